/**
 * `npm run replay -- [--url http://127.0.0.1:8787] [--limit 1000]`: shows the dead letters and
 * sends them back to their queues, through the admin API. The token comes from `ADMIN_TOKEN` in the
 * environment or, for local dev, from `.dev.vars`.
 */
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:8787" },
    limit: { type: "string", default: "1000" },
    "dry-run": { type: "boolean", default: false },
  },
});

function adminToken(): string | undefined {
  if (process.env.ADMIN_TOKEN) return process.env.ADMIN_TOKEN;
  if (!existsSync(".dev.vars")) return undefined;
  return /^ADMIN_TOKEN=(.*)$/m.exec(readFileSync(".dev.vars", "utf8"))?.[1]?.trim();
}

const token = adminToken();
if (token === undefined || token === "") {
  console.error("replay: no admin token; set ADMIN_TOKEN or run from a folder with .dev.vars");
  process.exit(2);
}
const headers = { authorization: `Bearer ${token}` };
const base = values.url.replace(/\/$/, "");

async function call(method: string, path: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, { method, headers });
  } catch (error) {
    console.error(`replay: cannot reach ${base}: ${(error as Error).message}`);
    process.exit(1);
  }
  const body = (await response.json().catch(() => ({}))) as unknown;
  if (!response.ok) {
    console.error(`replay: ${method} ${path} answered ${response.status}: ${JSON.stringify(body)}`);
    process.exit(1);
  }
  return body;
}

const summary = (await call("GET", "/admin/api/dead-letters")) as {
  total: number;
  byReason: { queue: string; reason: string; count: number }[];
};
console.log(`replay: ${summary.total} dead letter(s) waiting`);
for (const row of summary.byReason) console.log(`  ${row.queue}  ${row.reason}  ${row.count}`);
if (summary.total === 0 || values["dry-run"]) process.exit(0);
const outcome = (await call("POST", `/admin/api/dead-letters/replay?limit=${encodeURIComponent(values.limit)}`)) as {
  replayed: number;
  remaining: number;
};
console.log(`replay: sent ${outcome.replayed} back to their queues; ${outcome.remaining} left`);
