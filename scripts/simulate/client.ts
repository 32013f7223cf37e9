/**
 * How simulated visitors reach the Worker: over HTTP, through the same endpoints a browser with the
 * tracker uses (`/v1/events`, pages, `/v1/decide`), and how the simulator reads what Tailor itself
 * recorded (the admin experiment report, the Kafka REST double's records).
 * @module
 */
import type { RunningKafkaRestDouble } from "../kafka-rest/server.ts";
import { sleep } from "../lib/polling.ts";

export { inParallel, sleep, waitFor } from "../lib/polling.ts";

/** A simulated browser: its visitor cookie and the address it connects from. */
export interface Visitor {
  cookie: string;
  ip: string;
}

/** A valid visitor id (22 base64url characters) for scenario `prefix` and number `index`. */
export function simulatedVisitor(prefix: string, index: number): Visitor {
  // Padded with "_", which no base-36 number contains: ids of different visitors never collide.
  const id = `${prefix}${index.toString(36)}`.padEnd(22, "_").slice(0, 22);
  // One address per visitor, as real visitors have: the per-client rate limit applies to each alone.
  const hashed = (index * 2_654_435_761 + prefix.length * 97 + prefix.charCodeAt(0)) >>> 0;
  return { cookie: `tailor_vid=${id}`, ip: `10.${(hashed >>> 16) & 255}.${(hashed >>> 8) & 255}.${hashed & 255}` };
}

export interface DecidedSlot {
  slot: string;
  ruleId: string;
  experiment: string | null;
  variant: string | null;
}

export interface ExperimentReport {
  weights: number[] | null;
  variants: Record<string, { trials: number; successes: number; conversions: number }>;
  srm: { chiSquare: number; pValue: number; flagged: boolean };
}

let messageCounter = 0;

export class TailorClient {
  /** Exposure record ids delivered upstream so far, read incrementally from the double. */
  readonly #delivered = new Set<string>();
  #scanned = 0;
  readonly #waiting = new Map<string, (() => void)[]>();
  #watching: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly url: string,
    readonly adminToken: string,
    readonly kafka: RunningKafkaRestDouble,
  ) {}

  /**
   * Resolves once the exposure `<decisionId>:<slot>` has reached the Kafka REST double (the
   * consumer remembers exposures right after delivering them), or after `timeoutMs`; returns
   * whether it arrived.
   */
  exposureDelivered(id: string, timeoutMs = 30_000): Promise<boolean> {
    this.#scan();
    if (this.#delivered.has(id)) return Promise.resolve(true);
    this.#watching ??= setInterval(() => this.#scan(), 100);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      const waiters = this.#waiting.get(id) ?? [];
      waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
      this.#waiting.set(id, waiters);
    });
  }

  /** Stops watching for exposures. */
  close(): void {
    if (this.#watching !== undefined) clearInterval(this.#watching);
    this.#watching = undefined;
  }

  #scan(): void {
    const records = this.kafka.records();
    for (; this.#scanned < records.length; this.#scanned++) {
      const value = records[this.#scanned]?.value as { kind?: unknown; id?: unknown } | undefined;
      if (value?.kind !== "exposure" || typeof value.id !== "string") continue;
      this.#delivered.add(value.id);
      for (const resolve of this.#waiting.get(value.id) ?? []) resolve();
      this.#waiting.delete(value.id);
    }
  }

  /** Sends tracker events for a visitor, with the time the simulation says it is as their `timestamp`. */
  async track(visitor: Visitor, events: { event: string; properties: Record<string, unknown> }[], simulatedAt: Date): Promise<void> {
    const batch = events.map(({ event, properties }) => ({
      type: "track",
      event,
      properties,
      messageId: `sim-${process.pid}-${++messageCounter}`,
      timestamp: simulatedAt.toISOString(),
    }));
    const response = await fetch(`${this.url}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie: visitor.cookie, "cf-connecting-ip": visitor.ip },
      body: JSON.stringify({ batch }),
    });
    await response.arrayBuffer();
    if (response.status !== 202) throw new Error(`POST /v1/events answered ${response.status}`);
  }

  /** The homepage as the visitor gets it; returns the personalized slots it carries. */
  async page(visitor: Visitor, path = "/"): Promise<{ rule: string; variant: string | null }[]> {
    const response = await fetch(`${this.url}${path}`, {
      headers: { cookie: visitor.cookie, "cf-connecting-ip": visitor.ip, "user-agent": "Mozilla/5.0 (tailor-simulator)" },
    });
    const html = await response.text();
    if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}`);
    return [...html.matchAll(/data-p13n-rule="([^"]+)"(?:[^>]*data-p13n-variant="([^"]+)")?/g)].map((match) => ({
      rule: match[1] ?? "",
      variant: match[2] ?? null,
    }));
  }

  /** The decision for a page, as an app would ask for it (`GET /v1/decide`): exposures are logged the same way. */
  async decide(visitor: Visitor, path: string): Promise<{ decisionId: string | null; slots: DecidedSlot[] }> {
    const response = await fetch(`${this.url}/v1/decide?path=${encodeURIComponent(path)}`, {
      headers: { cookie: visitor.cookie, "cf-connecting-ip": visitor.ip, "user-agent": "Mozilla/5.0 (tailor-simulator)" },
    });
    if (response.status !== 200) {
      await response.arrayBuffer();
      throw new Error(`GET /v1/decide answered ${response.status}`);
    }
    return (await response.json()) as { decisionId: string | null; slots: DecidedSlot[] };
  }

  /** The experiment report Tailor's admin API serves. */
  async report(experiment: string): Promise<ExperimentReport> {
    const response = await fetch(`${this.url}/admin/api/experiments/${experiment}`, {
      headers: { authorization: `Bearer ${this.adminToken}` },
    });
    if (response.status !== 200) throw new Error(`report for ${experiment} answered ${response.status}: ${await response.text()}`);
    return (await response.json()) as ExperimentReport;
  }

  /** Feedback records Tailor delivered upstream (to the Kafka REST double), of one kind. */
  feedback(kind: string): Record<string, unknown>[] {
    return this.kafka
      .records()
      .map((record) => record.value)
      .filter(
        (value): value is Record<string, unknown> =>
          typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === kind,
      );
  }
}

/**
 * Tries `work` up to `attempts` times, as a visitor reloads a page that failed (on a busy machine
 * the local origin connection is sometimes dropped); rethrows the last failure.
 */
export async function withRetries<T>(work: () => Promise<T>, attempts = 3): Promise<T> {
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      return await work();
    } catch (error) {
      lastError = error;
      await sleep(200 * (attempt + 1));
    }
  }
  throw lastError;
}

/** One status line, rewritten in place on a terminal and printed at most every few seconds otherwise. */
export class Progress {
  #last = 0;
  update(text: string): void {
    if (process.stdout.isTTY) {
      process.stdout.write(`\r${text.padEnd(100).slice(0, 100)}`);
      return;
    }
    if (Date.now() - this.#last < 5_000) return;
    this.#last = Date.now();
    console.log(text);
  }
  done(text: string): void {
    if (process.stdout.isTTY) process.stdout.write(`\r${" ".repeat(100)}\r`);
    console.log(text);
    this.#last = 0;
  }
}
