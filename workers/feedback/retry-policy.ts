/**
 * How long the consumers keep retrying a message the Kafka REST proxy could not take, kept apart
 * from the consumer so the Node-side checks can compare it with wrangler.toml.
 *
 * A message is retried with a delay doubling per attempt up to `MAX_RETRY_DELAY_SECONDS`; the queue
 * gives up after `QUEUE_MAX_RETRIES` (wrangler.toml's `max_retries`, the platform's most) and sends it
 * to the dead-letter queue. The two together make about 3.7 days of retries, inside a queue's default
 * 4-day retention: a Kafka outage that long pauses delivery instead of dead-lettering everything a
 * few minutes in, and a message still undeliverable after it is kept as a dead letter rather than
 * expiring unseen (docs/scaling.md, "Dead letters").
 * @module
 */

/** wrangler.toml's `max_retries` for `tailor-events` and `tailor-feedback`. */
export const QUEUE_MAX_RETRIES = 100;

/** A queue's default message retention (4 days), which the retries must end inside. */
export const QUEUE_RETENTION_SECONDS = 4 * 24 * 3600;

/** The platform's longest retry delay is 12 hours; an hour keeps the wait after an outage short. */
export const MAX_RETRY_DELAY_SECONDS = 3_600;

/** Retry delay for a message on its Nth attempt: base, 2×base, 4×base ... seconds, at most an hour. */
export function retryDelaySeconds(attempts: number, base = 2): number {
  return Math.min(MAX_RETRY_DELAY_SECONDS, Math.max(1, base) * 2 ** Math.max(0, attempts - 1));
}
