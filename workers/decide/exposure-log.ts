/**
 * Exposures leave an isolate in batches: the decisions made within `EXPOSURE_BATCH_MS` of each other
 * share one `decisions` queue message, so the queue sees one operation per batch instead of one per
 * page view (on the benchmark's machine, a queue operation per page view cost more than the rest of
 * the decision).
 *
 * The first decision of a batch schedules the send and keeps its own invocation alive for it with
 * `waitUntil`; later decisions only add data to the batch, so no request waits on another's I/O.
 *
 * A refused send is tried again, with short pauses (`SEND_RETRY_DELAYS_MS`), inside the same
 * `waitUntil`; a batch the queue still refuses is parked in the `ExposureOutbox` object, which
 * re-sends it from its alarm until the queue takes it. Every attempt carries the same message id,
 * so a copy that reached the queue despite an error is counted once (`ExperimentStats` applies a
 * queue message once per id). Only a batch that could be neither sent nor parked is reported lost.
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
  /** When its first decision joined it: the start of the window in which the isolate's death loses it. */
  openedAt: number;
}

/** How a batch's send ended, and how long its decisions were exposed to the isolate's death. */
export interface BatchOutcome {
  outcome: "sent" | "parked" | "lost";
  decisions: number;
  /** Sends tried in the request. */
  attempts: number;
  /** Milliseconds from the batch's first decision until the queue or the outbox had it (or both refused). */
  exposedMs: number;
}

/** The open batch per queue binding (tests give requests their own recording queue). */
const open = new WeakMap<Queue, Batch>();

/**
 * Pauses before the second and later sends of a refused batch: a few hundred milliseconds in all,
 * well inside the time `waitUntil` grants after the response.
 */
export const SEND_RETRY_DELAYS_MS: readonly number[] = [50, 250];

export interface ExposureLogOptions {
  windowMs: number;
  waitUntil(promise: Promise<unknown>): void;
  /** Keeps a batch the queue refused every time somewhere durable that re-sends it; rejects when it could not. */
  park(message: DecisionBatchMessage): Promise<void>;
  /** Called when a batch was parked instead of queued, with the last send error. */
  onParked(error: unknown, decisions: readonly ExposureBatchMessage[]): void;
  /** Called when a batch could be neither queued nor parked, with the decisions it held. */
  onFailure(error: unknown, decisions: readonly ExposureBatchMessage[]): void;
  /** Pauses between attempts; `SEND_RETRY_DELAYS_MS` unless a test drives them. */
  retryDelaysMs?: readonly number[];
  /** Hears how each batch ended (the measured loss window). */
  onSettled?(outcome: BatchOutcome): void;
}

/**
 * At most this many bytes as JSON: every id and name is at most 64 characters, the path 512, and
 * a bandit's shares are measured as they are (at most 3 UTF-8 bytes per character).
 */
export function upperBoundBytes(exposures: ExposureBatchMessage): number {
  const allocations = exposures.allocations === undefined ? 0 : JSON.stringify(exposures.allocations).length * 3;
  return 400 + exposures.path.length * 6 + exposures.assignments.length * 400 + allocations;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `message` until the queue takes it or the attempts run out, then parks it; never rejects. */
async function deliver(queue: Queue, message: DecisionBatchMessage, openedAt: number, options: ExposureLogOptions): Promise<void> {
  const delays = options.retryDelaysMs ?? SEND_RETRY_DELAYS_MS;
  const settled = (outcome: BatchOutcome["outcome"], attempts: number) =>
    options.onSettled?.({ outcome, decisions: message.decisions.length, attempts, exposedMs: Date.now() - openedAt });
  let failure: unknown;
  for (let attempt = 0; attempt <= delays.length; attempt++) {
    if (attempt > 0) await pause(delays[attempt - 1] ?? 0);
    try {
      // The same message, id included, on every attempt: see the module comment.
      await queue.send(message, { contentType: "json" });
      settled("sent", attempt + 1);
      return;
    } catch (error) {
      failure = error;
    }
  }
  try {
    await options.park(message);
  } catch (error) {
    settled("lost", delays.length + 1);
    options.onFailure(error, message.decisions);
    return;
  }
  settled("parked", delays.length + 1);
  options.onParked(failure, message.decisions);
}

function send(queue: Queue, batch: Batch, options: ExposureLogOptions): Promise<void> {
  if (open.get(queue) === batch) open.delete(queue);
  if (batch.sent) return Promise.resolve();
  batch.sent = true;
  return deliver(queue, { v: 1, kind: "decisions", id: crypto.randomUUID(), decisions: batch.decisions }, batch.openedAt, options);
}

function openBatch(queue: Queue, options: ExposureLogOptions): Batch {
  const batch: Batch = { decisions: [], bytes: 0, sent: false, openedAt: Date.now() };
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
