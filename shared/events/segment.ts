/**
 * Visitor events as they arrive at `POST /v1/events`: Segment Spec messages (`page`, `track`,
 * `identify`), alone or in a `{"batch": [...]}` envelope, so a site that already emits
 * Segment or RudderStack calls can send them here unchanged.
 *
 * Unknown top-level fields that Segment libraries add (`integrations`, `writeKey`, `channel`, ...)
 * are accepted and dropped. Fields we keep are bounded in length and count. Client-sent network
 * details (`context.ip`) are never kept.
 * @see https://segment.com/docs/connections/spec/common/
 * @module
 */
import { z } from "zod";

export const MAX_BATCH_LENGTH = 100;
const MAX_PROPERTIES = 64;

const Identifier = z.string().trim().min(1).max(128);
const ShortText = z.string().max(512);

/** A JSON value as it may appear in `properties` or `traits`; strings are bounded. */
const JsonValue: z.ZodType<unknown> = z.lazy(() =>
  z.union([z.string().max(2_048), z.number(), z.boolean(), z.null(), z.array(JsonValue).max(64), z.record(z.string().max(128), JsonValue)]),
);

const Properties = z.record(z.string().min(1).max(128), JsonValue).refine((record) => Object.keys(record).length <= MAX_PROPERTIES, {
  message: `at most ${MAX_PROPERTIES} properties`,
});

const Context = z.object({
  page: z
    .object({
      path: ShortText.optional(),
      referrer: z.string().max(2_048).optional(),
      search: z.string().max(2_048).optional(),
      title: ShortText.optional(),
      url: z.string().max(2_048).optional(),
    })
    .optional(),
  locale: z.string().max(35).optional(),
  consent: z.object({ categoryPreferences: z.record(z.string().min(1).max(64), z.boolean()).optional() }).optional(),
});

const Common = {
  messageId: Identifier,
  timestamp: z.iso.datetime({ offset: true }).optional(),
  sentAt: z.iso.datetime({ offset: true }).optional(),
  anonymousId: Identifier.optional(),
  userId: Identifier.optional(),
  context: Context.optional(),
};

export const PageMessage = z.object({
  ...Common,
  type: z.literal("page"),
  name: ShortText.optional(),
  category: ShortText.optional(),
  properties: Properties.optional(),
});
export type PageMessage = z.infer<typeof PageMessage>;

export const TrackMessage = z.object({
  ...Common,
  type: z.literal("track"),
  event: z.string().trim().min(1).max(200),
  properties: Properties.optional(),
});
export type TrackMessage = z.infer<typeof TrackMessage>;

export const IdentifyMessage = z.object({
  ...Common,
  type: z.literal("identify"),
  traits: Properties.optional(),
});
export type IdentifyMessage = z.infer<typeof IdentifyMessage>;

export const SegmentMessage = z.discriminatedUnion("type", [PageMessage, TrackMessage, IdentifyMessage]);
export type SegmentMessage = z.infer<typeof SegmentMessage>;

export const SegmentBatch = z.object({
  batch: z.array(SegmentMessage).min(1).max(MAX_BATCH_LENGTH),
});
export type SegmentBatch = z.infer<typeof SegmentBatch>;
