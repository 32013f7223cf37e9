/**
 * Reading back what `UserSession` stored: event rows into events, and the JSON it keeps in text
 * columns (profile state, event properties, pending feedback). Stored text that no longer parses is
 * replaced by an empty value and logged, so one bad row never blocks the visitor's object.
 * @module
 */
import type { RecordedEvent } from "../shared/events/recorded.ts";
import type { FeedbackMessage } from "../shared/feedback/attribution.ts";
import { ClickClaimMessage, ClickMessage, ConversionMessage } from "../shared/feedback/messages.ts";
import { emptyState, VisitorState } from "../shared/profile/state.ts";
import * as z from "../shared/zod.ts";

/** A row of the `events` table (docs/storage.md). */
export type EventRow = {
  seq: number;
  message_id: string;
  type: string;
  event: string | null;
  category: string | null;
  product_id: string | null;
  path: string | null;
  received_at: number;
  client_time: number | null;
  properties: string;
  forwarded: number;
  feedback: string | null;
};

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The stored state, parsed; state that is not a JSON object at all starts again from empty. */
export function storedState(stored: string): VisitorState {
  const parsed = z.safeParse(VisitorState, parseJsonOrUndefined(stored));
  if (parsed.success) return parsed.data;
  console.error(JSON.stringify({ message: "stored visitor state unreadable; starting from empty" }));
  return emptyState();
}

const StoredProperties = z.catch(z.record(z.string(), z.unknown()), () => ({}));
const StoredFeedback = z.array(z.union([ClickMessage, ClickClaimMessage, ConversionMessage]));

/** An outbox row's feedback; what no longer parses is dropped (and logged) rather than blocking the outbox. */
export function storedFeedback(stored: string): FeedbackMessage[] {
  const parsed = StoredFeedback.safeParse(parseJsonOrUndefined(stored));
  if (parsed.success) return parsed.data;
  console.error(JSON.stringify({ message: "stored feedback unreadable; dropped" }));
  return [];
}

/** The event a row holds (consent is not stored with events: it lives in the profile state). */
export function rowToEvent(row: EventRow): RecordedEvent {
  return {
    messageId: row.message_id,
    type: row.type as RecordedEvent["type"],
    event: row.event,
    category: row.category,
    productId: row.product_id,
    path: row.path,
    receivedAt: row.received_at,
    clientTime: row.client_time,
    properties: StoredProperties.parse(parseJsonOrUndefined(row.properties)),
    consent: null,
  };
}
