/**
 * Storage rows the benchmark's visitors cost: each visitor's `UserSession` counts the SQLite rows
 * its statements read and wrote (`usage`, an RPC method no route reaches), and this adds them up
 * over the visitors the benchmark used, asking the objects through Miniflare directly.
 * @module
 */
import { createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import type { Miniflare } from "miniflare";
import type { StorageUsage } from "../../durable-objects/user-session.rpc.ts";

/** The secret `startLocalTailor` keys pseudonyms with. */
const SECRET = "local-visitor-id-secret-for-tests-and-benchmarks";

export interface RowTotals {
  events: number;
  rowsWritten: number;
  rowsRead: number;
  pageDecisions: number;
  pageRowsRead: number;
  pageRowsWritten: number;
}

/** The object name of a cookie id, as `workers/common/visitor.ts` derives it (HMAC-SHA-256, base64url, 32 characters). */
function pseudonymOf(id: string): string {
  return createHmac("sha256", SECRET).update(id).digest("base64url").slice(0, 32);
}

/** Sums the usage of the objects of the visitors with these cookie ids. */
export async function storageRows(miniflare: Miniflare, visitorIds: readonly string[]): Promise<RowTotals> {
  const namespace = await miniflare.getDurableObjectNamespace("USER_SESSION");
  const totals: RowTotals = { events: 0, rowsWritten: 0, rowsRead: 0, pageDecisions: 0, pageRowsRead: 0, pageRowsWritten: 0 };
  for (const id of visitorIds) {
    const stub = namespace.get(namespace.idFromName(pseudonymOf(id))) as unknown as { usage(): Promise<StorageUsage> };
    const usage = await stub.usage();
    totals.events += usage.eventsAccepted;
    totals.rowsWritten += usage.rowsWritten - usage.profileReads.rowsWritten;
    totals.rowsRead += usage.rowsRead - usage.profileReads.rowsRead;
    totals.pageDecisions += usage.profileReads.calls;
    totals.pageRowsRead += usage.profileReads.rowsRead;
    totals.pageRowsWritten += usage.profileReads.rowsWritten;
  }
  return totals;
}

/** What `npm run cost` reads: rows per accepted event and per page decision, as measured here. */
export function writeMeasuredCounts(path: string, ingest: RowTotals, pages: RowTotals): void {
  const per = (rows: number, count: number) => (count === 0 ? 0 : Math.round((rows / count) * 1_000) / 1_000);
  const measured = {
    measuredAt: new Date().toISOString(),
    command: "npm run bench:ingest",
    rowsWrittenPerEvent: per(ingest.rowsWritten, ingest.events),
    rowsReadPerPageDecision: per(pages.pageRowsRead, pages.pageDecisions),
    rowsWrittenPerPageDecision: per(pages.pageRowsWritten, pages.pageDecisions),
  };
  writeFileSync(path, `${JSON.stringify(measured, null, 2)}\n`);
}
