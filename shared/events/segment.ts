/**
 * Visitor events as they arrive at `POST /v1/events`: Segment Spec messages (`page`, `screen`,
 * `track`, `identify`, `group`, `alias`), alone or in a `{"batch": [...]}` envelope, so a site that
 * already emits Segment or RudderStack calls can send them here unchanged. Anonymous calls from
 * those libraries carry `userId: null`, which means the same as no `userId`.
 *
 * A `userId` is only a claim: `identify` and `alias` link the browser to that user only with an
 * identity proof from the site's server in `context.tailor.identity` (`shared/identity/proof.ts`).
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
/** Kept exactly as sent (no trimming): the identity proof signs these very characters. */
const UserId = z.string().min(1).max(128);
/** Not checked here: a malformed proof only means "not linked", never a lost batch. */
const IdentityProofText = z.string().max(256);
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
  /** Tailor's own fields; Segment libraries pass `context` through unchanged. */
  tailor: z.object({ identity: IdentityProofText.optional() }).optional(),
});

const Common = {
  messageId: Identifier,
  timestamp: z.iso.datetime({ offset: true }).optional(),
  sentAt: z.iso.datetime({ offset: true }).optional(),
  anonymousId: Identifier.nullish(),
  // RudderStack's browser SDK sends `""` before `identify`: no user, like null.
  userId: z.union([UserId, z.literal("")]).nullish(),
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

/** A mobile app's screen view; counted like a page view. */
export const ScreenMessage = z.object({
  ...Common,
  type: z.literal("screen"),
  name: ShortText.optional(),
  category: ShortText.optional(),
  properties: Properties.optional(),
});
export type ScreenMessage = z.infer<typeof ScreenMessage>;

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

/** A visitor's company or account; its traits are the group's, not the visitor's, and it links nothing. */
export const GroupMessage = z.object({
  ...Common,
  type: z.literal("group"),
  groupId: Identifier,
  traits: Properties.optional(),
});
export type GroupMessage = z.infer<typeof GroupMessage>;

/** Another name for the user; like `identify`, it links the browser to `userId` only with a proof. */
export const AliasMessage = z.object({
  ...Common,
  type: z.literal("alias"),
  userId: UserId,
  previousId: Identifier.nullish(),
});
export type AliasMessage = z.infer<typeof AliasMessage>;

export const SegmentMessage = z.discriminatedUnion("type", [
  PageMessage,
  ScreenMessage,
  TrackMessage,
  IdentifyMessage,
  GroupMessage,
  AliasMessage,
]);
export type SegmentMessage = z.infer<typeof SegmentMessage>;

export const SegmentBatch = z.object({
  batch: z.array(SegmentMessage).min(1).max(MAX_BATCH_LENGTH),
});
export type SegmentBatch = z.infer<typeof SegmentBatch>;
