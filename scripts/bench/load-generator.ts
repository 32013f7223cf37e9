/**
 * A bounded HTTP load generator, run as its own process so its CPU is not the server's: sends a
 * fixed number of requests with fixed concurrency over keep-alive connections and prints one JSON
 * line with throughput and latency percentiles. Used by the benchmarks in this folder.
 *
 * Usage: tsx scripts/bench/load-generator.ts '<json LoadPlan>'
 */
import { Agent, request } from "node:http";
import { percentile } from "./stats.ts";

export interface LoadPlan {
  /** Base URL of the server. */
  url: string;
  /** What each request is. */
  scenario: "get" | "ingest";
  /** Path for `get`. */
  path?: string;
  requests: number;
  concurrency: number;
  /** For `ingest`: how many distinct visitors the requests are spread over, and events per batch. */
  visitors?: number;
  eventsPerBatch?: number;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** For `get`: cookies to send, one per request in turn (many visitors). */
  cookies?: string[];
  /** Give up after this long, whatever is left. */
  timeLimitMs?: number;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  statuses: Record<string, number>;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** The cookie id of the bench's visitor number `index` (the same on every run). */
export function visitorId(index: number): string {
  let id = "";
  let value = index * 2_654_435_761 + 12_345;
  for (let position = 0; position < 22; position++) {
    id += ALPHABET[value % 64];
    value = Math.floor(value / 64) + position * 7_919 + index;
  }
  return id;
}

const CATEGORIES = ["electronics", "outdoor", "home", "fashion"];

function ingestBody(sequence: number, events: number): string {
  const batch = Array.from({ length: events }, (_, index) => {
    const category = CATEGORIES[(sequence + index) % CATEGORIES.length] ?? "home";
    return {
      type: "track",
      event: "Product Viewed",
      messageId: `bench-${process.pid}-${sequence}-${index}`,
      timestamp: new Date().toISOString(),
      properties: { product_id: `${category.slice(0, 2)}-${String((sequence % 16) + 1).padStart(2, "0")}`, category, price: 49.99 },
    };
  });
  return JSON.stringify({ batch });
}

export async function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const target = new URL(plan.url);
  const agent = new Agent({ keepAlive: true, maxSockets: plan.concurrency });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let issued = 0;
  const deadline = Date.now() + (plan.timeLimitMs ?? 120_000);

  const once = (sequence: number): Promise<void> =>
    new Promise((resolve) => {
      const isIngest = plan.scenario === "ingest";
      const visitor = sequence % (plan.visitors ?? 1);
      const body = isIngest ? ingestBody(sequence, plan.eventsPerBatch ?? 1) : undefined;
      const headers: Record<string, string> = { ...plan.headers };
      const cookies = plan.cookies ?? [];
      if (!isIngest && cookies.length > 0) headers.cookie = cookies[sequence % cookies.length] ?? "";
      if (isIngest) {
        headers["content-type"] = "application/json";
        headers.cookie = `tailor_vid=${visitorId(visitor)}`;
        headers["cf-connecting-ip"] = `10.${(visitor >> 16) & 255}.${(visitor >> 8) & 255}.${visitor & 255}`;
      }
      const started = performance.now();
      const outgoing = request(
        {
          host: target.hostname,
          port: target.port,
          path: isIngest ? "/v1/events" : (plan.path ?? "/"),
          method: isIngest ? "POST" : "GET",
          headers,
          agent,
        },
        (response) => {
          response.resume();
          response.on("end", () => {
            latencies.push(performance.now() - started);
            statuses[String(response.statusCode)] = (statuses[String(response.statusCode)] ?? 0) + 1;
            resolve();
          });
        },
      );
      outgoing.on("error", () => {
        statuses.error = (statuses.error ?? 0) + 1;
        resolve();
      });
      outgoing.end(body);
    });

  const started = performance.now();
  await Promise.all(
    Array.from({ length: plan.concurrency }, async () => {
      while (issued < plan.requests && Date.now() < deadline) {
        issued++;
        await once(issued);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1_000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    seconds,
    requestsPerSecond: latencies.length / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    statuses,
  };
}

if (process.argv[1]?.endsWith("load-generator.ts")) {
  const plan = JSON.parse(process.argv[2] ?? "{}") as LoadPlan;
  console.log(JSON.stringify(await runLoad(plan)));
}
