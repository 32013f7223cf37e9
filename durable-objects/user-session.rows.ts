/**
 * Reading back what `UserSession` stored: batch rows into events, and the JSON it keeps in text
 * columns (profile state, event properties, pending feedback). Stored text that no longer parses is
 * replaced by an empty value and logged, so one bad row never blocks the visitor's object.
 * @module
 */
import { RecordedEvent } from "../shared/events/recorded.ts";
import type { FeedbackMessage } from "../shared/feedback/attribution.ts";
import { ClickClaimMessage, ClickMessage, ConversionMessage } from "../shared/feedback/messages.ts";
import { emptyState, VisitorState } from "../shared/profile/state.ts";
import * as z from "../shared/zod.ts";

/** A row of the `batches` table (docs/storage.md): the new events of one or more accepted batches received within a day. */
export type BatchRow = {
  seq: number;
  received_at: number;
  size: number;
  events: string;
  /** The events' per-minute counts (`user-session.counters.ts`). */
  counts: string;
  /** How many of the row's leading events the queue has taken; the rest wait in the outbox. */
  sent: number;
  /** The profile state after the row's last write; read from the newest row only. */
  state: string | null;
  /** When the row's first event was received (null in rows from before migration 5). */
  first_at: number | null;
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

const StoredFeedback = z.array(z.union([ClickMessage, ClickClaimMessage, ConversionMessage]));

/** An outbox row's feedback; what no longer parses is dropped (and logged) rather than blocking the outbox. */
export function storedFeedback(stored: string): FeedbackMessage[] {
  const parsed = StoredFeedback.safeParse(parseJsonOrUndefined(stored));
  if (parsed.success) return parsed.data;
  console.error(JSON.stringify({ message: "stored feedback unreadable; dropped" }));
  return [];
}

const StoredItems = z.array(z.object({ event: RecordedEvent, feedback: z.catch(StoredFeedback, () => []) }));

/** A batch row's events with their feedback; a row that no longer parses yields none (and is logged). */
export function storedItems(stored: string): { event: RecordedEvent; feedback: FeedbackMessage[] }[] {
  const parsed = StoredItems.safeParse(parseJsonOrUndefined(stored));
  if (parsed.success) return parsed.data;
  console.error(JSON.stringify({ message: "stored events unreadable; skipped" }));
  return [];
}

/** The text a batch row stores (consent is not stored with events: it lives in the profile state). */
export function itemsJson(items: readonly { event: RecordedEvent; feedback: readonly FeedbackMessage[] }[]): string {
  return JSON.stringify(items.map(({ event, feedback }) => ({ event: { ...event, consent: null }, feedback })));
}
