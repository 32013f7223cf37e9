/**
 * `npm run setup -- --env staging|production [--dry-run] [--url https://…] [--rules FILE]
 * [--retention-secs 345600]`: creates what a Cloudflare account still lacks for that environment,
 * writes the KV id into wrangler.toml and wrangler.admin.toml, deploys both Workers, checks the
 * secrets of each and publishes the first rules.
 * `--dry-run` prints every command without running any. The steps are in `lib/setup.ts`.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { experimental_readRawConfig, unstable_readConfig } from "wrangler";
import { type EnvironmentConfig, type Runner, routeUrl, runSetup } from "./lib/setup.ts";

const CONFIG = "wrangler.toml";

const { values } = parseArgs({
  options: {
    env: { type: "string" },
    "dry-run": { type: "boolean", default: false },
    url: { type: "string" },
    rules: { type: "string", default: "demo-shop/rules.json" },
    "retention-secs": { type: "string", default: "345600" },
  },
});

function usage(problem: string): never {
  console.error(
    `setup: ${problem}\nusage: npm run setup -- --env staging|production [--dry-run] [--url https://…] [--rules FILE] [--retention-secs N]`,
  );
  process.exit(2);
}

const environments = Object.keys(experimental_readRawConfig({ config: CONFIG }).rawConfig.env ?? {});
if (values.env === undefined || !environments.includes(values.env)) usage(`--env must be one of: ${environments.join(", ")}`);
const retentionSeconds = Number(values["retention-secs"]);
if (!Number.isInteger(retentionSeconds) || retentionSeconds < 60 || retentionSeconds > 1_209_600)
  usage("--retention-secs must be 60 to 1209600");

const config = unstable_readConfig({ config: CONFIG, env: values.env }) as unknown as EnvironmentConfig;
const url = values.url ?? process.env.TAILOR_URL ?? routeUrl(config);
if (url === undefined) usage("no route in this environment: pass --url");

/** Required secrets: those `.dev.vars.example` lists with a value to replace (the Kafka credentials are optional). */
const requiredSecrets = [...readFileSync(".dev.vars.example", "utf8").matchAll(/^([A-Z][A-Z0-9_]*)=replace-with/gm)].map(
  (match) => match[1] ?? "",
);

const run: Runner = (command, args) =>
  new Promise((resolve) => {
    execFile(
      command,
      [...args],
      { env: { ...process.env, WRANGLER_SEND_METRICS: "false" }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }),
    );
  });

process.exit(
  await runSetup(
    {
      environment: values.env,
      config,
      configPath: CONFIG,
      adminConfigPath: "wrangler.admin.toml",
      dryRun: values["dry-run"],
      requiredSecrets,
      rulesFile: values.rules,
      url,
      retentionSeconds,
      log: (line) => console.log(line),
    },
    run,
  ),
);
