/**
 * What of a recorded event leaves the visitor's Durable Object for the events queue and Kafka.
 * @module
 */
import type { RecordedEvent } from "../events/recorded.ts";
import { type EventBatchMessage, type EventMessage, MAX_EVENT_BATCH_BYTES } from "./messages.ts";

/**
 * The queue message for an event: the visitor by pseudonym only, no traits (identify and group
 * may carry personal data), and without the properties the deployment excludes (`EXCLUDED_PROPERTIES`).
 */
export function toEventMessage(event: RecordedEvent, visitor: string, excluded: ReadonlySet<string>): EventMessage {
  const properties: Record<string, unknown> = {};
  if (event.type !== "identify" && event.type !== "group") {
    for (const [name, value] of Object.entries(event.properties)) {
      if (!excluded.has(name.toLowerCase())) properties[name] = value;
    }
  }
  return {
    v: 1,
    kind: "event",
    id: event.messageId,
    visitor,
    type: event.type,
    event: event.event,
    category: event.category,
    productId: event.productId,
    path: event.path,
    receivedAt: new Date(event.receivedAt).toISOString(),
    clientTime: event.clientTime === null ? null : new Date(event.clientTime).toISOString(),
    properties,
  };
}

/** Parses the comma-separated `EXCLUDED_PROPERTIES` setting into lower-case names. */
export function excludedProperties(setting: string | undefined): Set<string> {
  return new Set(
    (setting ?? "")
      .split(",")
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name !== ""),
  );
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
