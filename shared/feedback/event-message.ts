/**
 * What of a recorded event leaves the visitor's Durable Object for the events queue and Kafka.
 * @module
 */
import type { RecordedEvent } from "../events/recorded.ts";
import { type ExcludedNames, excludedNames, redactCapped, redactValue } from "../redact.ts";
import { type EventBatchMessage, type EventMessage, MAX_EVENT_BATCH_BYTES } from "./messages.ts";

/**
 * The queue message for an event: the visitor by pseudonym only, no traits (identify and group
 * may carry personal data), without the properties the deployment excludes (`EXCLUDED_PROPERTIES`, matched
 * by words at any depth) and with e-mail addresses, phone numbers and IP addresses redacted from
 * every string, including the path and its query (see `shared/redact.ts`).
 */
export function toEventMessage(event: RecordedEvent, visitor: string, excluded: ExcludedNames): EventMessage {
  const properties =
    event.type === "identify" || event.type === "group" ? {} : (redactValue(event.properties, excluded) as Record<string, unknown>);
  const text = (value: string | null, max: number) => (value === null ? null : redactCapped(value, max));
  return {
    v: 1,
    kind: "event",
    id: event.messageId,
    visitor,
    type: event.type,
    event: text(event.event, 200),
    category: text(event.category, 64),
    productId: text(event.productId, 64),
    path: text(event.path, 512),
    receivedAt: new Date(event.receivedAt).toISOString(),
    clientTime: event.clientTime === null ? null : new Date(event.clientTime).toISOString(),
    properties,
  };
}

/** Parses the comma-separated `EXCLUDED_PROPERTIES` setting (see `excludedNames`). */
export function excludedProperties(setting: string | undefined): ExcludedNames {
  return excludedNames(setting);
}

/** Groups event records into queue messages that each stay under `MAX_EVENT_BATCH_BYTES`. */
export function toEventBatches(records: readonly EventMessage[], visitor: string): EventBatchMessage[] {
  const batches: EventBatchMessage[] = [];
  let current: EventMessage[] = [];
  let size = 0;
  const close = () => {
    const first = current[0];
    if (first !== undefined) batches.push({ v: 1, kind: "events", id: first.id, visitor, events: current });
    current = [];
    size = 0;
  };
  for (const record of records) {
    const recordSize = JSON.stringify(record).length;
    if (current.length > 0 && (size + recordSize > MAX_EVENT_BATCH_BYTES || current.length === 100)) close();
    current.push(record);
    size += recordSize;
  }
  close();
  return batches;
}
