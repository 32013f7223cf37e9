/**
 * Where a personalized page's CPU goes:
 *
 *   npm run bench:profile-pages [-- --requests 4000] [--out page.cpuprofile]
 *
 * Builds the visitors' Worker unminified (so the profile names functions), serves the demo
 * homepage to visitors with state as `npm run bench:pages` does ("serving": no feedback consumer),
 * and records a CPU profile of workerd's JavaScript through its inspector while a separate process
 * loads it. Prints the functions with the most self time and the bundle's modules with the most
 * self time; `--out` keeps the profile for Chrome DevTools. Time spent in the runtime itself
 * (HTMLRewriter's parser, the network, SQLite) shows as "(program)" or under the calling function.
 *
 * Read shares, not absolute times: with the profiler attached the isolate runs several times slower
 * than in `bench:pages`. On Linux, `perf record -p <workerd pid>` during `bench:pages` splits the
 * whole process's time (JavaScript, V8's heap, HTMLRewriter, the event loop, the kernel) without
 * that distortion.
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import rules from "../../demo-shop/rules.json" with { type: "json" };
import { startDemoShop } from "../../demo-shop/server.ts";
import { startKafkaRestDouble } from "../kafka-rest/server.ts";
import { startLocalTailor } from "../lib/local-tailor.ts";
import { runLoadInChild } from "./run-load.ts";
import { formatNumber } from "./stats.ts";
import { prepareVisitors, USER_AGENT } from "./visitors.ts";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** The few members of Node's experimental WebSocket (`--experimental-websocket`) this script uses. */
interface Socket {
  addEventListener(type: "open" | "error" | "close", listener: () => void): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  send(data: string): void;
  close(): void;
}
const SocketClass = (globalThis as unknown as { WebSocket?: new (url: string) => Socket }).WebSocket;

/** A Chrome DevTools protocol session over one WebSocket. */
async function devtools(url: string): Promise<{ call(method: string, params?: object): Promise<unknown>; close(): void }> {
  if (SocketClass === undefined) throw new Error("run under `tsx --experimental-websocket` (npm run bench:profile-pages does)");
  const socket = new SocketClass(url);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve());
    socket.addEventListener("error", () => reject(new Error(`cannot open ${url}`)));
  });
  const pending = new Map<number, (result: unknown) => void>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.error === undefined ? message.result : message);
  });
  let next = 0;
  return {
    call: (method, params = {}) =>
      new Promise((resolve) => {
        next += 1;
        pending.set(next, resolve);
        socket.send(JSON.stringify({ id: next, method, params }));
      }),
    close: () => socket.close(),
  };
}

/** Self time per node, in milliseconds, from the profile's samples. */
function selfTimes(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let index = 0; index < samples.length; index++) {
    const id = samples[index] ?? 0;
    // A sample's time is the gap to the next one.
    const gap = (deltas[index + 1] ?? 0) / 1_000;
    self.set(id, (self.get(id) ?? 0) + gap);
  }
  return self;
}

/** Total (self plus callees) time per function, counted once per stack even when recursive. */
function totalTimes(profile: CpuProfile, self: Map<number, number>): Map<string, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const totals = new Map<string, number>();
  const walk = (id: number, onStack: Set<string>): number => {
    const node = byId.get(id);
    if (node === undefined) return 0;
    const key = frameKey(node.callFrame);
    const fresh = !onStack.has(key);
    if (fresh) onStack.add(key);
    let total = self.get(id) ?? 0;
    for (const child of node.children ?? []) total += walk(child, onStack);
    if (fresh) {
      onStack.delete(key);
      totals.set(key, (totals.get(key) ?? 0) + total);
    }
    return total;
  };
  const root = profile.nodes[0];
  if (root !== undefined) walk(root.id, new Set());
  return totals;
}

function frameKey(frame: CallFrame): string {
  const where = frame.url === "" ? "" : ` ${frame.url.split("/").at(-1)}:${frame.lineNumber + 1}`;
  return `${frame.functionName || "(anonymous)"}${where}`;
}

/** The source module a bundle line belongs to, from esbuild's `// path` comments. */
function moduleOfLine(bundle: string[]): (line: number) => string {
  const starts: [number, string][] = [];
  bundle.forEach((text, index) => {
    const match = /^\/\/ ((?:node_modules|shared|workers|durable-objects)\/\S+)$/.exec(text);
    if (match?.[1] !== undefined) starts.push([index, match[1]]);
  });
  return (line) => {
    let found = "(bundle preamble)";
    for (const [start, name] of starts) {
      if (start > line) break;
      found = name;
    }
    return found;
  };
}

function top(entries: Map<string, number>, count: number, totalMs: number): string[] {
  return [...entries]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, ms]) => `  ${formatNumber((100 * ms) / totalMs, 1).padStart(5)}%  ${formatNumber(ms, 0).padStart(6)} ms  ${key}`);
}

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "4000" },
    out: { type: "string" },
    "inspector-port": { type: "string", default: "9229" },
  },
});
const requests = Number(values.requests);
const inspectorPort = Number(values["inspector-port"]);

const outdir = mkdtempSync(join(tmpdir(), "tailor-profile-"));
console.log("profile: building the visitors' Worker unminified");
execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--minify=false", "--outdir", outdir], {
  env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_HIDE_BANNER: "true" },
  stdio: "ignore",
});
const scriptPath = join(outdir, "index.js");
const shop = await startDemoShop();
const kafka = await startKafkaRestDouble();
const tailor = await startLocalTailor({
  originUrl: shop.url,
  kafkaRestUrl: kafka.url,
  rules,
  unconsumedQueues: ["tailor-feedback"],
  scriptPath,
  inspectorPort,
});
try {
  console.log("profile: preparing visitors with state");
  const cookies = await prepareVisitors(tailor.url);
  const plan = (count: number) => ({
    url: tailor.url,
    scenario: "get" as const,
    path: "/",
    requests: count,
    concurrency: 8,
    timeLimitMs: 300_000,
    headers: { "user-agent": USER_AGENT },
    cookies,
  });
  await runLoadInChild(plan(400));
  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as { id: string; webSocketDebuggerUrl?: string }[];
  const target = targets.find((candidate) => candidate.id.endsWith(":tailor")) ?? targets[0];
  if (target?.webSocketDebuggerUrl === undefined) throw new Error(`no inspector target for Tailor in ${JSON.stringify(targets)}`);
  const session = await devtools(target.webSocketDebuggerUrl);
  await session.call("Profiler.enable");
  await session.call("Profiler.setSamplingInterval", { interval: 100 });
  await session.call("Profiler.start");
  console.log(`profile: ${requests} pages to visitors with state`);
  const load = await runLoadInChild(plan(requests));
  const { profile } = (await session.call("Profiler.stop")) as { profile: CpuProfile };
  session.close();
  if (values.out !== undefined) writeFileSync(values.out, JSON.stringify(profile));

  const self = selfTimes(profile);
  const totalMs = [...self.values()].reduce((sum, ms) => sum + ms, 0);
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  const moduleOf = moduleOfLine(readFileSync(scriptPath, "utf8").split("\n"));
  for (const node of profile.nodes) {
    const ms = self.get(node.id) ?? 0;
    const key = frameKey(node.callFrame);
    byFunction.set(key, (byFunction.get(key) ?? 0) + ms);
    const module = node.callFrame.url.endsWith("index.js")
      ? moduleOf(node.callFrame.lineNumber)
      : node.callFrame.functionName || "(runtime)";
    byModule.set(module, (byModule.get(module) ?? 0) + ms);
  }
  const idle = byFunction.get("(idle)") ?? 0;
  // Shares are of the time the isolate was busy: waiting is left out of every list.
  byFunction.delete("(idle)");
  byModule.delete("(idle)");
  console.log(
    `\n${load.requests} pages, ${formatNumber(load.requestsPerSecond, 0)} req/s, statuses ${JSON.stringify(load.statuses)}; sampled ${formatNumber(totalMs, 0)} ms, not idle ${formatNumber(totalMs - idle, 0)} ms = ${formatNumber((totalMs - idle) / load.requests, 3)} ms a page`,
  );
  console.log("\nSelf time by function:");
  for (const line of top(byFunction, 40, totalMs - idle)) console.log(line);
  console.log("\nSelf time by source module:");
  for (const line of top(byModule, 25, totalMs - idle)) console.log(line);
  console.log("\nTotal time by function:");
  const totals = totalTimes(profile, self);
  totals.delete("(idle)");
  totals.delete("(root)");
  for (const line of top(totals, 50, totalMs - idle)) console.log(line);
} finally {
  await tailor.dispose();
  await shop.close();
  await kafka.close();
  rmSync(outdir, { recursive: true, force: true });
}
