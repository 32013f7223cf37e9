/**
 * `npm run replay -- [--url URL] [--limit 1000] [--dry-run]`: shows the dead letters and sends them
 * back to their queues, through the admin API (`--dry-run` only shows them). Tailor is found as
 * every tool finds it (`scripts/lib/tailor-url.ts`). The token comes from `ADMIN_TOKEN` in the
 * environment or, for local dev, from `.dev.vars`; behind Access-only, an Access service token from
 * `TAILOR_ACCESS_CLIENT_ID` and `TAILOR_ACCESS_CLIENT_SECRET` (`scripts/lib/admin-client.ts`).
 */
import { parseArgs } from "node:util";
import { AdminError, adminClient, adminCredentials } from "./lib/admin-client.ts";
import { tailorUrl } from "./lib/tailor-url.ts";

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    limit: { type: "string", default: "1000" },
    "dry-run": { type: "boolean", default: false },
  },
});

const credentials = adminCredentials();
if (credentials === undefined) {
  console.error(
    "replay: no credentials; set ADMIN_TOKEN (or TAILOR_ACCESS_CLIENT_ID and TAILOR_ACCESS_CLIENT_SECRET) or run from a folder with .dev.vars",
  );
  process.exit(2);
}
const client = adminClient(tailorUrl(values.url), credentials);

async function call<T>(method: string, path: string): Promise<T> {
  try {
    const { status, data } = await client.call<T>(method, path);
    if (status >= 400) {
      console.error(`replay: ${method} ${path} answered ${status}: ${JSON.stringify(data)}`);
      process.exit(1);
    }
    return data;
  } catch (error) {
    console.error(`replay: ${(error as Error).message}`);
    process.exit(error instanceof AdminError && error.status !== null ? 1 : 2);
  }
}

const summary = (await call("GET", "/admin/api/dead-letters")) as {
  total: number;
  dropped?: number;
  byReason: { queue: string; reason: string; count: number }[];
};
console.log(`replay: ${summary.total} dead letter(s) waiting`);
// The store is bounded: past its limits the oldest letters were dropped (docs/scaling.md, "Dead letters").
if ((summary.dropped ?? 0) > 0) console.log(`replay: ${summary.dropped} older letter(s) were dropped to stay within the store's bounds`);
for (const row of summary.byReason) console.log(`  ${row.queue}  ${row.reason}  ${row.count}`);
if (summary.total === 0 || values["dry-run"]) process.exit(0);
const outcome = (await call("POST", `/admin/api/dead-letters/replay?limit=${encodeURIComponent(values.limit)}`)) as {
  replayed: number;
  remaining: number;
};
console.log(`replay: sent ${outcome.replayed} back to their queues; ${outcome.remaining} left`);
