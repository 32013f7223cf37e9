/**
 * How `Env` is generated: bindings and vars only (runtime types come from @cloudflare/workers-types),
 * vars typed as `string` rather than their local values, and secret names taken from
 * `.dev.vars.example` so the result does not depend on anyone's local `.dev.vars`.
 */
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";

export const WRANGLER_TYPES_ARGS = ["--include-runtime=false", "--strict-vars=false", "--env-file", ".dev.vars.example"];

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  execFileSync("npx", ["wrangler", "types", ...WRANGLER_TYPES_ARGS], {
    stdio: "inherit",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_HIDE_BANNER: "true" },
  });
}
