/**
 * `npm run deploy -- --env staging|production [wrangler deploy options]`: `wrangler deploy` of both
 * Workers for a named environment, the admin Worker first (wrangler.admin.toml; the visitors'
 * Worker's ADMIN binding names it), then the visitors' Worker (wrangler.toml). Options such as
 * `--dry-run` go to both, so a dry run shows both bundles and their bindings. Without an
 * environment it refuses: the top-level configuration is for local development (its `ORIGIN_URL`
 * is 127.0.0.1 and it would be published on a public workers.dev hostname). The very first deploy
 * of an environment is `npm run setup`'s: each Worker binds something of the other's.
 */
import { spawnSync } from "node:child_process";
import { experimental_readRawConfig } from "wrangler";

/** The Workers in the order they are deployed. */
export const WORKER_CONFIGS = [
  { name: "admin Worker", config: "wrangler.admin.toml" },
  { name: "visitors' Worker", config: "wrangler.toml" },
] as const;

const args = process.argv.slice(2);
const at = args.findIndex((arg) => arg === "--env" || arg === "-e" || arg.startsWith("--env="));
const named = at === -1 ? undefined : args[at]?.includes("=") ? args[at]?.split("=")[1] : args[at + 1];
const environments = Object.keys(experimental_readRawConfig({ config: "wrangler.toml" }).rawConfig.env ?? {});
if (named === undefined || !environments.includes(named)) {
  console.error(
    `deploy: name the environment: npm run deploy -- --env ${environments.join("|")}\n` +
      "(the top-level configuration is for local development; see docs/operations.md)",
  );
  process.exit(2);
}
for (const [index, worker] of WORKER_CONFIGS.entries()) {
  console.log(`deploy: ${index + 1}/${WORKER_CONFIGS.length} the ${worker.name} (${worker.config})`);
  const result = spawnSync("npx", ["wrangler", "deploy", "-c", worker.config, ...args], { stdio: "inherit" });
  if (result.status !== 0) {
    console.error(`deploy: the ${worker.name} did not deploy; stopping here`);
    process.exit(result.status ?? 1);
  }
}
