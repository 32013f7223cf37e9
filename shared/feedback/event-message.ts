/**
 * What of a recorded event leaves the visitor's Durable Object for the events queue and Kafka.
 * @module
 */
import type { RecordedEvent } from "../events/recorded.ts";
import type { EventMessage } from "./messages.ts";

/**
 * The queue message for an event: the visitor by pseudonym only, no traits (identify may carry
 * personal data), and without the properties the deployment excludes (`EXCLUDED_PROPERTIES`).
 */
export function toEventMessage(event: RecordedEvent, visitor: string, excluded: ReadonlySet<string>): EventMessage {
  const properties: Record<string, unknown> = {};
  if (event.type !== "identify") {
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
