/**
 * Sending what `UserSession` recorded onward: events to the events queue and the clicks and
 * conversions they stand for to the feedback queue. The `batches` table is the outbox: a batch is
 * sent before it is stored and stored as sent only when the send succeeded in time; the alarm
 * sends the rest, so a send that fails loses nothing (upstream sees a retry as a duplicate with
 * the same ids).
 * @module
 */
import type { RecordedEvent } from "../shared/events/recorded.ts";
import type { FeedbackMessage } from "../shared/feedback/attribution.ts";
import { toEventBatches, toEventMessage } from "../shared/feedback/event-message.ts";
import { settings } from "../workers/common/config.ts";

/** When the events queue refused a send, the alarm tries again after this long. */
export const FORWARD_RETRY_MS = 30_000;

/**
 * How long `record` waits for the queues before it stores a batch as not yet sent and answers: a
 * slow queue delays the answer by this much at most, and the alarm sends the batch again.
 */
export const SEND_WAIT_MS = 2_000;

/** Queue batches hold at most 100 messages. */
const MAX_BATCH_MESSAGES = 100;

/** An event on its way out, with the feedback it gave rise to. */
export interface Outgoing {
  event: RecordedEvent;
  feedback: FeedbackMessage[];
}

/**
 * Puts the events and their feedback on the queues, personal data taken out; false (and a log line
 * without personal data) when a queue refused, in which case the caller keeps them in the outbox.
 */
export async function sendToQueues(env: Env, visitor: string, items: readonly Outgoing[]): Promise<boolean> {
  const excluded = settings(env).EXCLUDED_PROPERTIES;
  const feedback = items.flatMap((item) => item.feedback);
  try {
    await env.EVENTS_QUEUE.sendBatch(
      toEventBatches(
        items.map(({ event }) => toEventMessage(event, visitor, excluded)),
        visitor,
      ).map((body) => ({ body, contentType: "json" })),
    );
    for (let start = 0; start < feedback.length; start += MAX_BATCH_MESSAGES) {
      await env.FEEDBACK_QUEUE.sendBatch(feedback.slice(start, start + MAX_BATCH_MESSAGES).map((body) => ({ body, contentType: "json" })));
    }
    return true;
  } catch (error) {
    console.error(JSON.stringify({ message: "queue send failed; will retry from the outbox", count: items.length, error: String(error) }));
    return false;
  }
}

/**
 * `sendToQueues`, but false once `waitMs` has passed without an answer. A send that completes
 * later is sent again from the outbox: a duplicate with the same ids, which upstream recognizes.
 */
export async function sendWithin(env: Env, visitor: string, items: readonly Outgoing[], waitMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), waitMs);
  });
  try {
    return await Promise.race([sendToQueues(env, visitor, items), late]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
