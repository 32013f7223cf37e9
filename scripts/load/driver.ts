/**
 * The load itself, run as its own Node process so its CPU is not counted as the server's
 * (`main.ts` starts it): shopping sessions (`mix.ts`) start at a steady rate for a bounded time,
 * each visitor keeping the cookie Tailor set like a browser does, and every answer is timed and
 * checked. Prints a progress line to stderr every few seconds; on stdout, one JSON line as each
 * session starts and ends (so the parent can read the visitor's object counts while it is loaded)
 * and one with the result (`DriverLine` in `report.ts`).
 *
 * Usage: tsx scripts/load/driver.ts '<json DriverPlan>'
 * @module
 */
import { seededRandom } from "../simulate/model.ts";
import {
  afterBeacon,
  EMPTY_HISTORY,
  expectedRules,
  MAX_EVENTS_PER_BEACON,
  MEAN_STEPS_PER_SESSION,
  type PersonalizedSlot,
  personalizedSlots,
  planSession,
  promotionClicked,
  REQUEST_KINDS,
  type RequestKind,
  type Step,
  type TrackerEvent,
  type VisitorHistory,
} from "./mix.ts";
import { isFallback, type KindLog, progressLine } from "./report.ts";

/** What the driver is asked to do (passed as JSON on its command line). */
export interface DriverPlan {
  url: string;
  durationSeconds: number;
  /** Page views (pages and decide calls) a second to aim at. */
  rate: number;
  /** Size of the visitor pool sessions are drawn from: the smaller, the more returning visitors. */
  visitors: number;
  seed: number;
  /** Most sessions in flight at once; arrivals beyond it are counted as shed. */
  maxSessions: number;
}

/** A page that was not 200, or lost a personalization the visitor's accepted events call for. */
export interface PageProblem {
  kind: RequestKind;
  path: string;
  status: number | "error";
  /** Rules the page should have carried and did not. */
  missing: string[];
  /** The answer's Server-Timing (it names a fallback such as `profile`). */
  serverTiming: string | null;
}

/** What the driver saw, printed as its last line: per-kind timings, beacons, decisions checked, problems, visitors. */
export interface DriverResult {
  seconds: number;
  sessions: { started: number; returning: number; shed: number };
  logs: Record<RequestKind, KindLog>;
  beacons: { sent: number; events: number; accepted: number; duplicates: number; clicks: number; orders: number };
  decisions: { targeted: number; personalized: number; checked: number };
  /**
   * `lostPersonalization` counts pages missing a rule the visitor's events call for; `lostToFallback`
   * those of them whose Server-Timing names a fallback (a deadline missed: the designed degradation),
   * the rest lost it for no reason Tailor gave.
   */
  problems: { count: number; notOk: number; lostPersonalization: number; lostToFallback: number; examples: PageProblem[] };
  /** Each visitor's cookie id and the events Tailor accepted from them (the parent reads their objects' counts). */
  visitors: { id: string; accepted: number; pages: number; decisions: number }[];
}

interface VisitorSlot {
  index: number;
  cookie: string | null;
  ip: string;
  busy: boolean;
  history: VisitorHistory;
  accepted: number;
  pages: number;
  decisions: number;
}

const USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36 tailor-load";
const PROGRESS_EVERY_MS = 5_000;
const MAX_EXAMPLES = 20;

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/**
 * Plays sessions against `plan.url` until `plan.durationSeconds` have passed, then lets the sessions
 * under way finish the page they are on; `report` gets the progress line every few seconds.
 */
export async function drive(
  plan: DriverPlan,
  report: (line: string) => void,
  /** Told when a visitor's session starts (returning visitors only: a new one has no id yet) and ends. */
  onSession: (event: "session-start" | "session-end", visitor: string) => void = () => undefined,
): Promise<DriverResult> {
  const random = seededRandom(plan.seed);
  const logs = Object.fromEntries(REQUEST_KINDS.map((kind) => [kind, { latencies: [], statuses: {} }])) as unknown as Record<
    RequestKind,
    KindLog
  >;
  const pool: VisitorSlot[] = Array.from({ length: plan.visitors }, (_, index) => {
    const hashed = (index * 2_654_435_761 + 7) >>> 0;
    return {
      index,
      cookie: null,
      ip: `10.${(hashed >>> 16) & 255}.${(hashed >>> 8) & 255}.${hashed & 255}`,
      busy: false,
      history: EMPTY_HISTORY,
      accepted: 0,
      pages: 0,
      decisions: 0,
    };
  });
  const result: Omit<DriverResult, "seconds" | "logs" | "visitors"> = {
    sessions: { started: 0, returning: 0, shed: 0 },
    beacons: { sent: 0, events: 0, accepted: 0, duplicates: 0, clicks: 0, orders: 0 },
    decisions: { targeted: 0, personalized: 0, checked: 0 },
    problems: { count: 0, notOk: 0, lostPersonalization: 0, lostToFallback: 0, examples: [] },
  };
  let messages = 0;
  const run = `${process.pid}-${plan.seed}`;

  const problem = (entry: PageProblem) => {
    result.problems.count++;
    if (entry.status !== 200) result.problems.notOk++;
    if (entry.missing.length > 0) result.problems.lostPersonalization++;
    if (entry.missing.length > 0 && isFallback(entry.serverTiming)) result.problems.lostToFallback++;
    if (result.problems.examples.length < MAX_EXAMPLES) result.problems.examples.push(entry);
  };

  /** Sends one request as the visitor's browser would, keeping the visitor cookie Tailor sets. */
  const send = async (
    visitor: VisitorSlot,
    kind: RequestKind,
    path: string,
    init: { method?: string; body?: string } = {},
  ): Promise<{ status: number | "error"; text: string; headers: Headers | null }> => {
    const headers: Record<string, string> = { "user-agent": USER_AGENT, "cf-connecting-ip": visitor.ip, accept: "text/html,*/*" };
    if (visitor.cookie !== null) headers.cookie = `tailor_vid=${visitor.cookie}`;
    if (init.body !== undefined) headers["content-type"] = "application/json";
    const log = logs[kind];
    const started = performance.now();
    try {
      const response = await fetch(`${plan.url}${path}`, { method: init.method ?? "GET", headers, body: init.body, redirect: "manual" });
      const text = await response.text();
      log.latencies.push(performance.now() - started);
      log.statuses[String(response.status)] = (log.statuses[String(response.status)] ?? 0) + 1;
      for (const cookie of response.headers.getSetCookie()) {
        const id = /^tailor_vid=([A-Za-z0-9_-]{22})/.exec(cookie)?.[1];
        if (id !== undefined) visitor.cookie = id;
      }
      return { status: response.status, text, headers: response.headers };
    } catch {
      log.statuses.error = (log.statuses.error ?? 0) + 1;
      return { status: "error", text: "", headers: null };
    }
  };

  const beacon = async (visitor: VisitorSlot, events: readonly TrackerEvent[], path: string) => {
    const batch = events.map((event) => ({
      ...event,
      messageId: `load-${run}-${++messages}`,
      timestamp: new Date().toISOString(),
      context: { page: { path, search: "", title: "", referrer: "" } },
    }));
    result.beacons.sent++;
    result.beacons.events += batch.length;
    result.beacons.clicks += events.filter((event) => event.event === "Promotion Clicked").length;
    result.beacons.orders += events.filter((event) => event.event === "Order Completed").length;
    const answer = await send(visitor, "beacon", "/v1/events", { method: "POST", body: JSON.stringify({ batch }) });
    if (answer.status !== 202) return;
    const outcome = JSON.parse(answer.text) as { accepted?: number; duplicates?: number };
    const accepted = outcome.accepted ?? 0;
    result.beacons.accepted += accepted;
    result.beacons.duplicates += outcome.duplicates ?? 0;
    visitor.accepted += accepted;
    // Only what Tailor stored may be expected on the next page.
    if (accepted === batch.length) visitor.history = afterBeacon(visitor.history, events);
  };

  const navigate = async (visitor: VisitorSlot, step: Step, think: () => Promise<void>) => {
    const expected = visitor.cookie === null ? [] : expectedRules(visitor.history);
    const path = step.kind === "decide" ? `/v1/decide?path=${encodeURIComponent(step.path)}` : step.path;
    const answer = await send(visitor, step.kind, path);
    let slots: PersonalizedSlot[] = [];
    if (answer.status === 200 && step.kind === "decide") {
      const decision = JSON.parse(answer.text) as {
        slots?: { slot: string; ruleId: string; experiment: string | null; variant: string | null }[];
      };
      slots = (decision.slots ?? []).map(({ slot, ruleId, experiment, variant }) => ({ rule: ruleId, slot, experiment, variant }));
    } else if (answer.status === 200 && step.kind === "home") slots = personalizedSlots(answer.text);
    const targeted = step.kind === "home" || step.kind === "decide";
    visitor.pages++;
    if (targeted) visitor.decisions++;
    if (targeted) {
      result.decisions.targeted++;
      if (slots.length > 0) result.decisions.personalized++;
      if (expected.length > 0) result.decisions.checked++;
    }
    const missing = answer.status === 200 && targeted ? expected.filter((rule) => !slots.some((slot) => slot.rule === rule)) : [];
    if (answer.status !== 200 || missing.length > 0)
      problem({
        kind: step.kind,
        path: step.path,
        status: answer.status,
        missing,
        serverTiming: answer.headers?.get("server-timing") ?? null,
      });
    if (answer.status !== 200) return;
    const beacons = step.beacons.map((events) => [...events]);
    const clicked = slots[Math.floor(random() * slots.length)];
    if (step.interaction === "click-slot" && clicked !== undefined) {
      const last = beacons.at(-1);
      if (last !== undefined && last.length < MAX_EVENTS_PER_BEACON) last.push(promotionClicked(clicked));
      else beacons.push([promotionClicked(clicked)]);
    }
    for (const events of beacons) {
      await think();
      await beacon(visitor, events, step.path);
    }
  };

  const sessionsPerSecond = plan.rate / MEAN_STEPS_PER_SESSION;
  const started = performance.now();
  const deadline = started + plan.durationSeconds * 1_000;

  const session = async (visitor: VisitorSlot) => {
    visitor.busy = true;
    result.sessions.started++;
    if (visitor.cookie !== null) {
      result.sessions.returning++;
      onSession("session-start", visitor.cookie);
    }
    // Short think times: a real visitor reads for seconds, the load compresses a session into a few.
    const think = () => sleep(50 + random() * 250);
    try {
      for (const step of planSession(random)) {
        // Past the deadline a session leaves at its next page: the run stays bounded on a slow machine.
        if (performance.now() >= deadline) break;
        await navigate(visitor, step, think);
        await sleep(150 + random() * 600);
      }
    } finally {
      visitor.busy = false;
      if (visitor.cookie !== null) onSession("session-end", visitor.cookie);
    }
  };

  const running = new Set<Promise<void>>();
  let lastProgress = started;
  let due = 0;
  while (performance.now() < deadline) {
    const now = performance.now();
    due = ((now - started) / 1_000) * sessionsPerSecond;
    while (result.sessions.started + result.sessions.shed < Math.floor(due)) {
      let visitor: VisitorSlot | undefined;
      for (let attempt = 0; attempt < 10 && visitor === undefined; attempt++) {
        const candidate = pool[Math.floor(random() * pool.length)];
        if (candidate !== undefined && !candidate.busy) visitor = candidate;
      }
      if (visitor === undefined || running.size >= plan.maxSessions) {
        result.sessions.shed++;
        continue;
      }
      const work = session(visitor).finally(() => running.delete(work));
      running.add(work);
    }
    if (now - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = now;
      report(
        progressLine((now - started) / 1_000, plan.durationSeconds, logs, { started: result.sessions.started, inFlight: running.size }),
      );
    }
    await sleep(20);
  }
  // Sessions under way finish the page they are on; none starts after the deadline.
  await Promise.all(running);
  const seconds = (performance.now() - started) / 1_000;
  report(progressLine(seconds, plan.durationSeconds, logs, { started: result.sessions.started, inFlight: 0 }));
  return {
    seconds,
    logs,
    ...result,
    visitors: pool.flatMap((visitor) =>
      visitor.cookie === null
        ? []
        : [{ id: visitor.cookie, accepted: visitor.accepted, pages: visitor.pages, decisions: visitor.decisions }],
    ),
  };
}

if (process.argv[1]?.endsWith("driver.ts")) {
  const plan = JSON.parse(process.argv[2] ?? "{}") as DriverPlan;
  const result = await drive(
    plan,
    (line) => process.stderr.write(`${line}\n`),
    (type, visitor) => process.stdout.write(`${JSON.stringify({ type, visitor })}\n`),
  );
  process.stdout.write(`${JSON.stringify({ type: "result", result })}\n`);
}
