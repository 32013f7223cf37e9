/**
 * Cold-start benchmark: what a new isolate costs, for the working tree's bundle against an earlier
 * one, measured in the same run.
 *
 *   npm run bench:cold-start                  (against the `main` branch; about two minutes)
 *   npm run bench:cold-start -- <git ref>     (against another commit)
 *   npm run bench:cold-start -- <folder>      (against a bundle already built there, e.g. by
 *                                              `wrangler deploy --dry-run --outdir <folder>`)
 *
 * Each round starts every bundle on a fresh Miniflare (one new workerd process, so a new isolate
 * that has parsed and evaluated nothing yet) and times, separately: start-up (process start and
 * loading the script, until Miniflare is ready), then the first page a visitor gets (the rules
 * are read from KV and parsed, the page fetched from the demo shop and personalized), then a
 * second page for comparison. A stub with Tailor's exports and bindings but no code, started the
 * same way, shows what the process and the bindings cost without the bundle. Besides wall-clock times it reports the CPU the workerd process
 * used up to the end of the first page (from /proc, in 10 ms ticks), which is steadier on a
 * shared machine. Rounds alternate the order; medians are reported with the after/before ratio.
 * @module
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { demoKvEntries } from "../../demo-shop/models.ts";
import rules from "../../demo-shop/rules.json" with { type: "json" };
import { startDemoShop } from "../../demo-shop/server.ts";
import { startKafkaRestDouble } from "../kafka-rest/server.ts";
import { buildWorker, LOCAL_RULES_SIGNING_KEY, startLocalTailor } from "../lib/local-tailor.ts";
import { formatNumber, median } from "./stats.ts";

// Start-up on a shared 2-core machine varies by tens of milliseconds; seven rounds steady the medians.
const ROUNDS = 7;
const QUEUES = ["tailor-events", "tailor-feedback", "tailor-dead-letter"];
const OFFLINE_ENV = { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_HIDE_BANNER: "true" };

interface Bundle {
  name: string;
  scriptPath: string;
  bytes: number;
  cleanUp(): void;
}

/** The earlier bundle: a folder holding a built index.js, or a git ref built in a temporary folder. */
function earlierBundle(reference: string): Bundle {
  const folder = resolve(reference);
  if (existsSync(join(folder, "index.js"))) {
    const scriptPath = join(folder, "index.js");
    return { name: `before (${reference})`, scriptPath, bytes: readFileSync(scriptPath).length, cleanUp: () => undefined };
  }
  const tree = mkdtempSync(join(tmpdir(), "tailor-cold-start-"));
  execFileSync("sh", ["-c", `git archive ${JSON.stringify(reference)} | tar -x -C ${JSON.stringify(tree)}`], { stdio: "inherit" });
  symlinkSync(resolve("node_modules"), join(tree, "node_modules"));
  const outdir = join(tree, "dist");
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir], { cwd: tree, env: OFFLINE_ENV, stdio: "ignore" });
  const scriptPath = join(outdir, "index.js");
  return {
    name: `before (${reference})`,
    scriptPath,
    bytes: readFileSync(scriptPath).length,
    cleanUp: () => rmSync(tree, { recursive: true, force: true }),
  };
}

/** CPU time (user + system) of the workerd process this process started last, in milliseconds. */
function workerdCpuMilliseconds(): number {
  const children = execFileSync("pgrep", ["-P", String(process.pid), "workerd"], { encoding: "utf8" })
    .trim()
    .split("\n");
  const pid = children.at(-1);
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1_000) / 100;
}

interface Sample {
  startup: number;
  firstPage: number;
  secondPage: number;
  cpu: number;
}

async function timedPage(url: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${url}/`, { headers: { accept: "text/html" } });
  const body = await response.text();
  if (response.status !== 200 || !body.includes("</html>")) throw new Error(`the page answered ${response.status}`);
  return performance.now() - started;
}

/**
 * The demo rules as the bundle reads them: signed (docs/decisions/0016-admin-worker-signed-rules.md)
 * for a bundle that checks signatures, the bare document for an earlier one, which would refuse the
 * signed form; each first page then loads and applies the same rules.
 */
async function seedFor(bundle: Bundle): Promise<{ key: string; value: string; metadata?: Record<string, unknown> }[]> {
  const entries = await demoKvEntries(rules, LOCAL_RULES_SIGNING_KEY);
  if (readFileSync(bundle.scriptPath, "utf8").includes("tailor-rules:v1:")) return entries;
  return entries.map((entry) =>
    entry.key === `rules:version:${rules.version}` ? { key: entry.key, value: JSON.stringify(rules) } : entry,
  );
}

async function sampleTailor(bundle: Bundle, originUrl: string, kafkaRestUrl: string): Promise<Sample> {
  const started = performance.now();
  const tailor = await startLocalTailor({ originUrl, kafkaRestUrl, scriptPath: bundle.scriptPath, unconsumedQueues: QUEUES });
  const startup = performance.now() - started;
  try {
    const kv = await tailor.miniflare.getKVNamespace("RULES");
    for (const entry of await seedFor(bundle))
      await kv.put(entry.key, entry.value, entry.metadata === undefined ? {} : { metadata: entry.metadata });
    const firstPage = await timedPage(tailor.url);
    const cpu = workerdCpuMilliseconds();
    const secondPage = await timedPage(tailor.url);
    return { startup, firstPage, secondPage, cpu };
  } finally {
    await tailor.dispose();
  }
}

/**
 * A script with Tailor's exports and nothing else: started with Tailor's bindings, it shows what
 * the process and the bindings (Durable Objects, queues, KV) cost before any of Tailor's code.
 */
function stubScript(): string {
  const { workerOptions } = unstable_getMiniflareWorkerOptions("wrangler.toml");
  const classes = Object.values(workerOptions.durableObjects ?? {}).map((binding: unknown) =>
    typeof binding === "object" && binding !== null && "className" in binding ? String(binding.className) : String(binding),
  );
  return [
    'import { DurableObject } from "cloudflare:workers";',
    ...classes.map((name) => `export class ${name} extends DurableObject {}`),
    'export default { fetch() { return new Response("<html></html>"); }, queue() {} };',
    "",
  ].join("\n");
}

const reference = process.argv[2] ?? "main";
console.log(`bench: building the working tree and ${reference}`);
const built = buildWorker();
const after: Bundle = {
  name: "after (working tree)",
  scriptPath: built.scriptPath,
  bytes: readFileSync(built.scriptPath).length,
  cleanUp: built.cleanUp,
};
const before = earlierBundle(reference);
const stubFolder = mkdtempSync(join(tmpdir(), "tailor-stub-"));
const stub: Bundle = {
  name: "stub",
  scriptPath: join(stubFolder, "index.js"),
  bytes: Number.NaN,
  cleanUp: () => rmSync(stubFolder, { recursive: true, force: true }),
};
writeFileSync(stub.scriptPath, stubScript());

const shop = await startDemoShop();
const kafka = await startKafkaRestDouble();
const samples = new Map<string, Sample[]>([
  [stub.name, []],
  [before.name, []],
  [after.name, []],
]);
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? [before, after] : [after, before];
    samples.get(stub.name)?.push(await sampleTailor(stub, shop.url, kafka.url));
    for (const bundle of order) samples.get(bundle.name)?.push(await sampleTailor(bundle, shop.url, kafka.url));
    console.log(`bench: round ${round + 1}/${ROUNDS} done`);
  }
} finally {
  await shop.close();
  await kafka.close();
  after.cleanUp();
  before.cleanUp();
  stub.cleanUp();
}

const medians = (name: string) => {
  const list = samples.get(name) ?? [];
  return {
    startup: median(list.map((sample) => sample.startup)),
    firstPage: median(list.map((sample) => sample.firstPage)),
    secondPage: median(list.map((sample) => sample.secondPage)),
    cpu: median(list.map((sample) => sample.cpu)),
  };
};
const base = medians(stub.name);
const rows = [
  { name: "stub (bindings, no code)", bytes: Number.NaN, ...base },
  { name: before.name, bytes: before.bytes, ...medians(before.name) },
  { name: after.name, bytes: after.bytes, ...medians(after.name) },
];
console.log(`\nmedians of ${ROUNDS} rounds (ms; CPU of workerd up to the end of the first page)`);
console.log(
  [
    "bundle".padEnd(34),
    "bytes".padStart(10),
    "start-up".padStart(9),
    "1st page".padStart(9),
    "2nd page".padStart(9),
    "CPU".padStart(7),
  ].join(" "),
);
for (const row of rows)
  console.log(
    [
      row.name.padEnd(34),
      (Number.isNaN(row.bytes) ? "" : row.bytes.toLocaleString("en")).padStart(10),
      formatNumber(row.startup).padStart(9),
      formatNumber(row.firstPage).padStart(9),
      formatNumber(row.secondPage).padStart(9),
      formatNumber(row.cpu, 0).padStart(7),
    ].join(" "),
  );
const [, old, fresh] = rows;
if (old !== undefined && fresh !== undefined) {
  const cold = (row: typeof old) => row.startup + row.firstPage - base.startup - base.firstPage;
  console.log(
    `\ncold start beyond the process start (start-up + first page − the stub's): before ${formatNumber(cold(old))} ms, after ${formatNumber(cold(fresh))} ms, ratio after/before ${formatNumber(cold(fresh) / cold(old), 2)}`,
  );
  console.log(
    `workerd CPU beyond the stub's: before ${formatNumber(old.cpu - base.cpu, 0)} ms, after ${formatNumber(fresh.cpu - base.cpu, 0)} ms, ratio ${formatNumber((fresh.cpu - base.cpu) / (old.cpu - base.cpu), 2)}`,
  );
}
