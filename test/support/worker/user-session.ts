/**
 * Helpers for tests of the visitor object (`UserSession`) inside workerd.
 */
import { runInDurableObject } from "cloudflare:test";
import type { UserSession } from "../../../durable-objects/user-session.ts";

/**
 * Waits until the object has marked every batch sent to the queue (the mark is written after the
 * answer). The deadline is far above any scheduling delay: the mark only waits for the local queue.
 */
export async function forwarded(stub: DurableObjectStub<UserSession>, deadlineMs = 60_000): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < deadlineMs) {
    const pending = await runInDurableObject(
      stub,
      (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM batches WHERE sent < size").one().n,
    );
    if (pending === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`batches were not forwarded within ${deadlineMs} ms`);
}
