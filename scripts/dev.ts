/**
 * `npm run dev`: everything a developer needs to see Tailor work, on 127.0.0.1 only.
 *
 * 1. creates `.dev.vars` with fresh random secrets when there is none;
 * 2. starts the demo shop (the origin, :8788) and the Kafka REST double (:8082);
 * 3. puts the demo rules into the local KV namespace unless rules are already published there;
 * 4. runs `wrangler dev` on http://127.0.0.1:8787 with every outbound call to the internet off.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { demoKvEntries } from "../demo-shop/models.ts";
import { startDemoShop } from "../demo-shop/server.ts";
import { RULES_LIVE_KEY } from "../shared/rules/document.ts";
import { startKafkaRestDouble } from "./kafka-rest/server.ts";

const WORKER_PORT = 8787;
const SHOP_PORT = 8788;
const KAFKA_PORT = 8082;

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

function seedDemoRules(): void {
  let live = "";
  try {
    live = wrangler(["kv", "key", "get", "--local", "--binding", "RULES", RULES_LIVE_KEY]).trim();
  } catch {
    // Not found: wrangler exits non-zero.
  }
  if (live !== "" && !live.includes("Value not found")) {
    console.log(`dev: local KV already has published rules (${live}); leaving them as they are`);
    return;
  }
  const document = JSON.parse(readFileSync("demo-shop/rules.json", "utf8")) as { version: number };
  const entries = demoKvEntries(document);
  const file = ".wrangler/demo-rules.json";
  execFileSync("mkdir", ["-p", ".wrangler"]);
  writeFileSync(file, JSON.stringify(entries));
  wrangler(["kv", "bulk", "put", "--local", "--binding", "RULES", file]);
  console.log(`dev: published the demo rules (version ${document.version}) and models to local KV`);
}

ensureDevVars();
const shop = await startDemoShop({ port: SHOP_PORT });
console.log(`dev: demo shop (origin) on ${shop.url}`);
const kafka = await startKafkaRestDouble({ port: KAFKA_PORT, dataDir: ".kafka-rest", log: (line) => console.log(line) });
console.log(`dev: Kafka REST double on ${kafka.url}, records in .kafka-rest/<topic>.ndjson`);
seedDemoRules();

const worker = spawn("npx", ["wrangler", "dev", "--ip", "127.0.0.1", "--port", String(WORKER_PORT), "--log-level", "warn"], {
  env: OFFLINE_ENV,
  stdio: ["inherit", "inherit", "inherit"],
});
console.log(`dev: starting Tailor on http://127.0.0.1:${WORKER_PORT} (Ctrl-C to stop)`);
console.log(`dev: rules editor at http://127.0.0.1:${WORKER_PORT}/admin — sign in with ADMIN_TOKEN from .dev.vars`);

async function shutDown(code: number): Promise<never> {
  worker.kill("SIGTERM");
  await Promise.all([shop.close(), kafka.close()]);
  process.exit(code);
}
worker.on("exit", (code) => void shutDown(code ?? 0));
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void shutDown(0));
