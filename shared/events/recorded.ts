/**
 * The normalized form of an accepted event, as the ingest Worker hands it to the visitor's
 * Durable Object. The server's receive time orders events and places them in windows; the
 * client's own timestamp is kept for reference only, so a wrong client clock cannot distort state.
 * @module
 */

import { normalizeKey } from "../keys.ts";
import { redactText } from "../redact.ts";
import * as z from "../zod.ts";
import type { SegmentMessage } from "./segment.ts";

export const RecordedEvent = z.strictObject({
  messageId: z.string().check(z.minLength(1), z.maxLength(128)),
  /** As sent; `screen` counts as a page view, `group` and `alias` change no profile state. */
  type: z.enum(["page", "screen", "track", "identify", "group", "alias"]),
  event: z.nullable(z.string().check(z.maxLength(200))),
  category: z.nullable(z.string().check(z.maxLength(64))),
  productId: z.nullable(z.string().check(z.maxLength(64))),
  path: z.nullable(z.string().check(z.maxLength(512))),
  receivedAt: z.int().check(z.nonnegative()),
  clientTime: z.nullable(z.int()),
  properties: z.record(z.string(), z.unknown()),
  /** The visitor's consent choices sent with the event (Segment's `context.consent.categoryPreferences`). */
  consent: z.nullable(z.record(z.string(), z.boolean())),
});
export type RecordedEvent = z.infer<typeof RecordedEvent>;

function parseTime(text: string | undefined): number | null {
  if (text === undefined) return null;
  const time = Date.parse(text);
  return Number.isNaN(time) ? null : time;
}

/** What a message says about its subject: traits for `identify` and `group`, none for `alias`. */
function propertiesOf(message: SegmentMessage): Record<string, unknown> {
  switch (message.type) {
    case "identify":
    case "group":
      return message.traits ?? {};
    case "alias":
      return {};
    default:
      return message.properties ?? {};
  }
}

/**
 * A category or product id as a profile key. Redacted first: normalizing turns
 * `jane.doe@example.com` into `jane-doe-example-com`, which no redaction recognizes afterwards, so a
 * key that was personal data becomes e.g. `redacted-email`.
 */
function keyOf(raw: unknown): string | null {
  return normalizeKey(typeof raw === "string" ? redactText(raw) : raw);
}

/** Turns a validated Segment message into the event the visitor's Durable Object records. */
export function normalizeMessage(message: SegmentMessage, receivedAt: number): RecordedEvent {
  const properties = propertiesOf(message);
  const path = message.context?.page?.path ?? (typeof properties.path === "string" ? properties.path : null);
  return {
    messageId: message.messageId,
    type: message.type,
    event: message.type === "track" ? message.event : message.type === "page" || message.type === "screen" ? (message.name ?? null) : null,
    // A group's traits describe a company, not what the visitor looked at.
    category: message.type === "group" ? null : keyOf(properties.category),
    productId: message.type === "group" ? null : keyOf(properties.product_id ?? properties.sku),
    path: path === null ? null : path.slice(0, 512),
    receivedAt,
    clientTime: parseTime(message.timestamp),
    properties,
    consent: message.context?.consent?.categoryPreferences ?? null,
  };
}
