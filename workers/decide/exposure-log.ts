/**
 * Exposures leave an isolate in batches: the decisions made within `EXPOSURE_BATCH_MS` of each other
 * share one `decisions` queue message, so the queue sees one operation per batch instead of one per
 * page view (on the benchmark's machine, a queue operation per page view cost more than the rest of
 * the decision).
 *
 * The first decision of a batch schedules the send and keeps its own invocation alive for it with
 * `waitUntil`; later decisions only add data to the batch, so no request waits on another's I/O. A
 * batch is as safe as a single send was: if the send fails, every decision in it is reported.
 * @module
 */
import { type DecisionBatchMessage, type ExposureBatchMessage, MAX_DECISIONS_PER_MESSAGE } from "../../shared/feedback/messages.ts";
import { redactCapped } from "../../shared/redact.ts";

/**
 * A batch is sent early once it holds `MAX_DECISIONS_PER_MESSAGE` decisions, and never grows past
 * this many bytes (queue messages are limited to 128 KB).
 */
export const MAX_BATCH_BYTES = 96 * 1024;

interface Batch {
  decisions: ExposureBatchMessage[];
  bytes: number;
  sent: boolean;
}

/** The open batch per queue binding (tests give requests their own recording queue). */
const open = new WeakMap<Queue, Batch>();

export interface ExposureLogOptions {
  windowMs: number;
  waitUntil(promise: Promise<unknown>): void;
  /** Called when a batch could not be queued, with the decisions it held. */
  onFailure(error: unknown, decisions: readonly ExposureBatchMessage[]): void;
}

/**
 * At most this many bytes as JSON: every id and name is at most 64 characters, the path 512, and
 * a bandit's shares are measured as they are (at most 3 UTF-8 bytes per character).
 */
export function upperBoundBytes(exposures: ExposureBatchMessage): number {
  const allocations = exposures.allocations === undefined ? 0 : JSON.stringify(exposures.allocations).length * 3;
  return 400 + exposures.path.length * 6 + exposures.assignments.length * 400 + allocations;
}

function send(queue: Queue, batch: Batch, options: ExposureLogOptions): Promise<void> {
  if (open.get(queue) === batch) open.delete(queue);
  if (batch.sent) return Promise.resolve();
  batch.sent = true;
  const message: DecisionBatchMessage = { v: 1, kind: "decisions", id: crypto.randomUUID(), decisions: batch.decisions };
  return queue.send(message, { contentType: "json" }).then(
    () => undefined,
    (error: unknown) => options.onFailure(error, batch.decisions),
  );
}

function openBatch(queue: Queue, options: ExposureLogOptions): Batch {
  const batch: Batch = { decisions: [], bytes: 0, sent: false };
  open.set(queue, batch);
  if (options.windowMs > 0) {
    options.waitUntil(new Promise((resolve) => setTimeout(resolve, options.windowMs)).then(() => send(queue, batch, options)));
  }
  return batch;
}

/** Adds a decision's exposures to the isolate's open batch for `queue`. */
export function logExposures(queue: Queue, exposures: ExposureBatchMessage, options: ExposureLogOptions): void {
  const bytes = upperBoundBytes(exposures);
  let batch = open.get(queue);
  // A decision that would take the batch past the size limit goes into the next one.
  if (batch !== undefined && batch.bytes + bytes > MAX_BATCH_BYTES) {
    options.waitUntil(send(queue, batch, options));
    batch = undefined;
  }
  batch ??= openBatch(queue, options);
  // The path is the visitor's and may hold personal data (`/u/bob@example.com`): redacted before the queue.
  batch.decisions.push({ ...exposures, path: redactCapped(exposures.path, 512) });
  batch.bytes += bytes;
  if (options.windowMs === 0 || batch.decisions.length >= MAX_DECISIONS_PER_MESSAGE) options.waitUntil(send(queue, batch, options));
}
