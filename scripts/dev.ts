/**
 * `npm run dev [-- --port N]`: everything a developer needs to see Tailor work, on 127.0.0.1 only.
 *
 * 1. creates `.dev.vars` with fresh random secrets when there is none;
 * 2. starts the demo shop (the origin, :8788) and the Kafka REST double (:8082), each on a free
 *    port instead when its own is taken, and wires Tailor to where they really listen;
 * 3. puts the demo rules into the local KV namespace unless rules are already published there;
 * 4. runs `wrangler dev` on http://127.0.0.1:8787 (or `--port`) with both Workers in one process
 *    (the visitors' Worker first, then the admin Worker its ADMIN binding reaches) and every
 *    outbound call to the internet off, and writes its address to `.wrangler/dev-url` for the
 *    other scripts.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { parseArgs } from "node:util";
import { DEMO_RELATED_KEY, demoKvEntries, demoRelatedModel } from "../demo-shop/models.ts";
import { type RunningServer, startDemoShop } from "../demo-shop/server.ts";
import { RULES_LIVE_KEY } from "../shared/rules/document.ts";
import { startKafkaRestDouble } from "./kafka-rest/server.ts";
import { signedModelEntry } from "./lib/signed-version.ts";
import { DEFAULT_TAILOR_URL, DEV_URL_FILE } from "./lib/tailor-url.ts";

const WORKER_PORT = Number(new URL(DEFAULT_TAILOR_URL).port);
const SHOP_PORT = 8788;
const KAFKA_PORT = 8082;
const INSPECTOR_PORT = 9229;

/** Keeps wrangler from calling home: no `request.cf` download, no metrics, no update banner. */
const OFFLINE_ENV = {
  ...process.env,
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_HIDE_BANNER: "true",
};

function ensureDevVars(): void {
  if (existsSync(".dev.vars")) return;
  const example = readFileSync(".dev.vars.example", "utf8");
  // Only the placeholders get values; optional settings stay empty.
  const filled = example.replace(/^([A-Z_]+)=replace-with.*$/gm, (_, name: string) => `${name}=${randomBytes(32).toString("base64url")}`);
  writeFileSync(".dev.vars", filled);
  console.log("dev: created .dev.vars with fresh random secrets (git-ignored)");
}

function wrangler(args: string[]): string {
  return execFileSync("npx", ["wrangler", ...args], { env: OFFLINE_ENV, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function localKvValue(key: string): string | null {
  try {
    const value = wrangler(["kv", "key", "get", "--local", "--binding", "RULES", key]).trim();
    return value === "" || value.includes("Value not found") ? null : value;
  } catch {
    // Not found: wrangler exits non-zero.
    return null;
  }
}

/** Writes entries (with their metadata) into the local KV namespace of `npm run dev`. */
function putLocalEntries(entries: readonly { key: string; value: string; metadata?: Record<string, unknown> }[]): void {
  const file = ".wrangler/demo-rules.json";
  execFileSync("mkdir", ["-p", ".wrangler"]);
  writeFileSync(file, JSON.stringify(entries));
  wrangler(["kv", "bulk", "put", "--local", "--binding", "RULES", file]);
}

async function seedDemoRules(): Promise<void> {
  const live = localKvValue(RULES_LIVE_KEY);
  if (live !== null) {
    console.log(`dev: local KV already has published rules (${live}); leaving them as they are`);
    const version = (JSON.parse(live) as { version?: unknown }).version;
    const stored = typeof version === "number" ? localKvValue(`rules:version:${version}`) : null;
    // Versions stored before publishes were signed are bare documents; the page path refuses them.
    if (stored !== null && !stored.startsWith('{"document":'))
      console.log(
        'dev: the live version was stored before rules were signed, so pages ignore it: publish it again (`npm run rules -- publish <file>` with the document from `wrangler kv key get`), see docs/operations.md, "Re-signing rules"',
      );
    // The demo model is generated from the catalogue: stored again signed, in case this KV holds
    // it from before models were signed (pages would ignore it). Other models are the user's own.
    const signingKey = devVar("RULES_SIGNING_KEY");
    if (signingKey !== undefined) {
      putLocalEntries([await signedModelEntry(DEMO_RELATED_KEY, demoRelatedModel(), signingKey)]);
      console.log(
        `dev: stored the demo model ${DEMO_RELATED_KEY} signed; re-publish any model of your own written before models were signed (\`npm run rules -- publish-model\`)`,
      );
    }
    return;
  }
  const document = JSON.parse(readFileSync("demo-shop/rules.json", "utf8")) as { version: number };
  const signingKey = devVar("RULES_SIGNING_KEY");
  if (signingKey === undefined) throw new Error("dev: RULES_SIGNING_KEY is missing from .dev.vars (see .dev.vars.example)");
  putLocalEntries(await demoKvEntries(document, signingKey));
  console.log(`dev: published the demo rules (version ${document.version}) and models to local KV`);
}

function isAddressInUse(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === "EADDRINUSE";
}

/** Starts a local server on its usual port, or on a free one when another program has that port. */
async function onUsualPort<T extends RunningServer>(name: string, port: number, start: (port: number) => Promise<T>): Promise<T> {
  try {
    return await start(port);
  } catch (error) {
    if (!isAddressInUse(error)) throw error;
    console.log(`dev: port ${port} is taken; the ${name} takes a free one`);
    return start(0);
  }
}

/** Whether nothing listens on `port` of 127.0.0.1. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", () => resolve()));
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no free port");
  return address.port;
}

/** A setting from `.dev.vars`, which wins over what this script would wire up. */
function devVar(name: string): string | undefined {
  const value = new RegExp(`^${name}=(.*)$`, "m").exec(readFileSync(".dev.vars", "utf8"))?.[1]?.trim();
  return value === "" ? undefined : value;
}

const { values: options } = parseArgs({ options: { port: { type: "string" } }, allowPositionals: false });
const requestedPort = options.port === undefined ? undefined : Number(options.port);
if (requestedPort !== undefined && !(Number.isInteger(requestedPort) && requestedPort > 0 && requestedPort < 65_536)) {
  console.error(`dev: --port must be a port number (1-65535), not "${options.port}"`);
  process.exit(2);
}
let workerPort = requestedPort ?? WORKER_PORT;
if (!(await isFree(workerPort))) {
  if (requestedPort !== undefined) {
    console.error(`dev: port ${workerPort} is taken by another program; choose another with --port`);
    process.exit(2);
  }
  workerPort = await freePort();
  console.log(`dev: port ${WORKER_PORT} is taken; Tailor takes ${workerPort} (or choose one with --port)`);
}
const inspectorPort = (await isFree(INSPECTOR_PORT)) ? INSPECTOR_PORT : await freePort();

ensureDevVars();
const shop = await onUsualPort("demo shop", SHOP_PORT, (port) => startDemoShop({ port }));
console.log(`dev: demo shop (origin) on ${shop.url}`);
const kafka = await onUsualPort("Kafka REST double", KAFKA_PORT, (port) =>
  startKafkaRestDouble({ port, dataDir: ".kafka-rest", log: (line) => console.log(line) }),
);
console.log(`dev: Kafka REST double on ${kafka.url}, records in .kafka-rest/<topic>.ndjson`);
await seedDemoRules();

// Tailor talks to where the shop and the double really listen, unless .dev.vars points elsewhere.
const wired = { ORIGIN_URL: devVar("ORIGIN_URL") ?? shop.url, KAFKA_REST_URL: devVar("KAFKA_REST_URL") ?? kafka.url };
const tailorUrl = `http://127.0.0.1:${workerPort}`;
const worker = spawn(
  "npx",
  [
    "wrangler",
    "dev",
    // Both Workers in one process: the first config is the one that serves the port.
    "-c",
    "wrangler.toml",
    "-c",
    "wrangler.admin.toml",
    "--ip",
    "127.0.0.1",
    "--port",
    String(workerPort),
    "--inspector-port",
    String(inspectorPort),
    "--log-level",
    "warn",
    ...Object.entries(wired).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
  ],
  // Its own process group, so stopping `npm run dev` stops wrangler and the workerd it starts too
  // (a signal to npx alone left them running, holding the port).
  { env: OFFLINE_ENV, stdio: ["inherit", "inherit", "inherit"], detached: true },
);

/** Stops wrangler and everything it started. */
function stopWorker(): void {
  if (worker.pid === undefined || worker.exitCode !== null) return;
  try {
    process.kill(-worker.pid, "SIGTERM");
  } catch {
    // Already gone.
  }
}
mkdirSync(".wrangler", { recursive: true });
writeFileSync(DEV_URL_FILE, `${tailorUrl}\n`);
console.log(`dev: starting Tailor on ${tailorUrl} (Ctrl-C to stop)`);
console.log(`dev: rules editor at ${tailorUrl}/admin — sign in with ADMIN_TOKEN from .dev.vars`);

async function shutDown(code: number): Promise<never> {
  stopWorker();
  rmSync(DEV_URL_FILE, { force: true });
  await Promise.all([shop.close(), kafka.close()]);
  process.exit(code);
}
worker.on("exit", (code) => void shutDown(code ?? 0));
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void shutDown(0));
process.on("exit", stopWorker);
