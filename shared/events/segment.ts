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
import { redactText } from "../redact.ts";
import * as z from "../zod.ts";

const MAX_BATCH_LENGTH = 100;
const MAX_PROPERTIES = 64;

const Identifier = z.string().check(z.trim(), z.minLength(1), z.maxLength(128));
/**
 * A message id is forwarded upstream as the record's id and used to recognize duplicates, so it
 * cannot be redacted (rewriting changes what it identifies): one holding an e-mail address, phone
 * number or IP address is refused instead. A UUID (what Segment libraries send) is always accepted:
 * its hex digits can look like a phone number (`01234567-89ab-…`) but carry nothing personal.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MessageId = Identifier.check(
  z.refine((id) => UUID.test(id) || redactText(id) === id, {
    message: "must not contain an e-mail address, phone number or IP address",
  }),
);
/** Kept exactly as sent (no trimming): the identity proof signs these very characters. */
const UserId = z.string().check(z.minLength(1), z.maxLength(128));
/** Not checked here: a malformed proof only means "not linked", never a lost batch. */
const IdentityProofText = z.string().check(z.maxLength(256));
const ShortText = z.string().check(z.maxLength(512));

/** A JSON value as it may appear in `properties` or `traits`; strings are bounded. */
const JsonValue: z.ZodMiniType<unknown> = z.lazy(() =>
  z.union([
    z.string().check(z.maxLength(2_048)),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(JsonValue).check(z.maxLength(64)),
    z.record(z.string().check(z.maxLength(128)), JsonValue),
  ]),
);

const Properties = z.record(z.string().check(z.minLength(1), z.maxLength(128)), JsonValue).check(
  z.refine((record) => Object.keys(record).length <= MAX_PROPERTIES, {
    message: `at most ${MAX_PROPERTIES} properties`,
  }),
);

const Context = z.object({
  page: z.optional(
    z.object({
      path: z.optional(ShortText),
      referrer: z.optional(z.string().check(z.maxLength(2_048))),
      search: z.optional(z.string().check(z.maxLength(2_048))),
      title: z.optional(ShortText),
      url: z.optional(z.string().check(z.maxLength(2_048))),
    }),
  ),
  locale: z.optional(z.string().check(z.maxLength(35))),
  consent: z.optional(
    z.object({ categoryPreferences: z.optional(z.record(z.string().check(z.minLength(1), z.maxLength(64)), z.boolean())) }),
  ),
  /** Tailor's own fields; Segment libraries pass `context` through unchanged. */
  tailor: z.optional(z.object({ identity: z.optional(IdentityProofText) })),
});

const Common = {
  messageId: MessageId,
  timestamp: z.optional(z.iso.datetime({ offset: true })),
  sentAt: z.optional(z.iso.datetime({ offset: true })),
  anonymousId: z.nullish(Identifier),
  // RudderStack's browser SDK sends `""` before `identify`: no user, like null.
  userId: z.nullish(z.union([UserId, z.literal("")])),
  context: z.optional(Context),
};

export const PageMessage = z.object({
  ...Common,
  type: z.literal("page"),
  name: z.optional(ShortText),
  category: z.optional(ShortText),
  properties: z.optional(Properties),
});
export type PageMessage = z.infer<typeof PageMessage>;

/** A mobile app's screen view; counted like a page view. */
export const ScreenMessage = z.object({
  ...Common,
  type: z.literal("screen"),
  name: z.optional(ShortText),
  category: z.optional(ShortText),
  properties: z.optional(Properties),
});
export type ScreenMessage = z.infer<typeof ScreenMessage>;

export const TrackMessage = z.object({
  ...Common,
  type: z.literal("track"),
  event: z.string().check(z.trim(), z.minLength(1), z.maxLength(200)),
  properties: z.optional(Properties),
});
export type TrackMessage = z.infer<typeof TrackMessage>;

export const IdentifyMessage = z.object({
  ...Common,
  type: z.literal("identify"),
  traits: z.optional(Properties),
});
export type IdentifyMessage = z.infer<typeof IdentifyMessage>;

/** A visitor's company or account; its traits are the group's, not the visitor's, and it links nothing. */
export const GroupMessage = z.object({
  ...Common,
  type: z.literal("group"),
  groupId: Identifier,
  traits: z.optional(Properties),
});
export type GroupMessage = z.infer<typeof GroupMessage>;

/** Another name for the user; like `identify`, it links the browser to `userId` only with a proof. */
export const AliasMessage = z.object({
  ...Common,
  type: z.literal("alias"),
  userId: UserId,
  previousId: z.nullish(Identifier),
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
  batch: z.array(SegmentMessage).check(z.minLength(1), z.maxLength(MAX_BATCH_LENGTH)),
});
export type SegmentBatch = z.infer<typeof SegmentBatch>;
