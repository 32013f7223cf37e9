/**
 * The queue consumer: delivers events and feedback to the Kafka REST bridge and writes analytics.
 *
 * A message is acknowledged only once the proxy has confirmed its record. Records the proxy could
 * not take, and whole batches when the proxy is unavailable, are retried through the queue with a
 * growing delay; after the queue's `max_retries` they go to the dead-letter queue. A message that
 * does not match its schema can never succeed and is not allowed to hold up the rest.
 * @module
 */
import { exposureRecords, QueueMessage } from "../../shared/feedback/messages.ts";
import { recordExposure } from "../common/analytics.ts";
import { produceRecords } from "./kafka-rest.ts";

/** Retry delay for a message on its Nth attempt: 2, 4, 8 ... seconds, at most 5 minutes. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(300, 2 ** Math.max(1, attempts));
}

function topicFor(queue: string, env: Env): string | null {
  if (queue.endsWith("-events")) return env.KAFKA_TOPIC_EVENTS;
  if (queue.endsWith("-feedback")) return env.KAFKA_TOPIC_FEEDBACK;
  return null;
}

export async function consumeQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const topic = topicFor(batch.queue, env);
  if (topic === null) {
    console.error(JSON.stringify({ message: "no topic for queue; retrying", queue: batch.queue }));
    batch.retryAll({ delaySeconds: 60 });
    return;
  }
  const valid: { message: Message<unknown>; body: QueueMessage }[] = [];
  for (const message of batch.messages) {
    const parsed = QueueMessage.safeParse(message.body);
    if (parsed.success) {
      valid.push({ message, body: parsed.data });
    } else {
      // Not a message we could ever deliver: drop it from the batch rather than block it.
      console.error(JSON.stringify({ message: "malformed queue message dropped", queue: batch.queue, id: message.id }));
      message.ack();
    }
  }
  if (valid.length === 0) return;

  // One Kafka record per event and per exposure; a queue message may carry several of them.
  const records = valid.flatMap(({ body }, owner): { owner: number; key: string; value: unknown }[] => {
    switch (body.kind) {
      case "events":
        return body.events.map((event) => ({ owner, key: body.visitor, value: event }));
      case "exposures":
        return exposureRecords(body).map((exposure) => ({ owner, key: body.visitor, value: exposure }));
      default:
        return [{ owner, key: body.visitor, value: body }];
    }
  });
  const outcome = await produceRecords(
    { baseUrl: env.KAFKA_REST_URL },
    topic,
    records.map(({ key, value }) => ({ key, value })),
  );
  if (!outcome.ok) {
    console.error(JSON.stringify({ message: "kafka rest produce failed", topic, ...outcome.error }));
    for (const { message } of valid) message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    return;
  }
  // A message is done when every one of its records is; otherwise all of it is retried.
  const failed = new Set<number>();
  outcome.value.forEach((result, index) => {
    const owner = records[index]?.owner;
    if (!result.delivered && owner !== undefined) failed.add(owner);
  });
  valid.forEach(({ message, body }, owner) => {
    if (failed.has(owner)) {
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
      return;
    }
    message.ack();
    if (body.kind === "exposure") recordExposure(env.ANALYTICS, body);
    if (body.kind === "exposures") for (const exposure of exposureRecords(body)) recordExposure(env.ANALYTICS, exposure);
  });
}
