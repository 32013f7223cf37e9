/**
 * `npm run deploy -- --env staging|production [wrangler deploy options]`: `wrangler deploy` for a
 * named environment. Without one it refuses: the top-level configuration is for local development
 * (its `ORIGIN_URL` is 127.0.0.1 and it would be published on a public workers.dev hostname).
 */
import { spawnSync } from "node:child_process";
import { experimental_readRawConfig } from "wrangler";

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
const result = spawnSync("npx", ["wrangler", "deploy", ...args], { stdio: "inherit" });
process.exit(result.status ?? 1);
