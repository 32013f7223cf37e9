/**
 * Messages on Tailor's queues, versioned (`v`) and checked by the same zod schema on the producing
 * and the consuming side. Every message carries an `id` that stays the same across retries and
 * redeliveries, so duplicates upstream are recognisable. No message carries a raw visitor id, an
 * IP address or identify traits: visitors appear only as their keyed pseudonym.
 * @module
 */
import { Assignment } from "../rules/assignment.ts";
import * as z from "../zod.ts";

/** The HMAC pseudonym of a visitor (base64url); never the cookie value itself. */
export const Pseudonym = z.string().check(z.regex(/^[A-Za-z0-9_-]{16,64}$/));

/** The visitor named on the exposures of visitors who asked not to be tracked: counted, never remembered. */
export const UNTRACKED_VISITORS = "untracked-visitors";

/** A visitor event as it reaches the raw-events Kafka topic: one record per event. */
export const EventMessage = z.strictObject({
  v: z.literal(1),
  kind: z.literal("event"),
  /** The event's Segment `messageId`. */
  id: z.string().check(z.minLength(1), z.maxLength(128)),
  visitor: Pseudonym,
  type: z.enum(["page", "screen", "track", "identify", "group", "alias"]),
  event: z.nullable(z.string().check(z.maxLength(200))),
  category: z.nullable(z.string().check(z.maxLength(64))),
  productId: z.nullable(z.string().check(z.maxLength(64))),
  path: z.nullable(z.string().check(z.maxLength(512))),
  receivedAt: z.iso.datetime(),
  clientTime: z.nullable(z.iso.datetime()),
  properties: z.record(z.string(), z.unknown()),
});
export type EventMessage = z.infer<typeof EventMessage>;

/**
 * The events of one accepted batch, as one queue message (a queue operation per batch, not per
 * event). Split into several messages when it would exceed `MAX_EVENT_BATCH_BYTES`.
 */
export const EventBatchMessage = z.strictObject({
  v: z.literal(1),
  kind: z.literal("events"),
  /** The first event's `messageId`; each event keeps its own `id` upstream. */
  id: z.string().check(z.minLength(1), z.maxLength(128)),
  visitor: Pseudonym,
  events: z.array(EventMessage).check(z.minLength(1), z.maxLength(100)),
});
export type EventBatchMessage = z.infer<typeof EventBatchMessage>;

/** Queue messages are limited to 128 KB; stay well below. */
export const MAX_EVENT_BATCH_BYTES = 96 * 1024;

/** A personalization shown to a visitor, logged when the decision is made. */
export const ExposureMessage = z.strictObject({
  v: z.literal(1),
  kind: z.literal("exposure"),
  /** `<decisionId>:<slot>`: one exposure per slot per decision. */
  id: z.string().check(z.minLength(1), z.maxLength(200)),
  decisionId: z.uuid(),
  visitor: Pseudonym,
  ...Assignment.shape,
  /** The visitor is in the global holdout: the rule matched but nothing was shown. */
  holdout: z.boolean(),
  path: z.string().check(z.maxLength(512)),
  rulesVersion: z.int().check(z.positive()),
  at: z.iso.datetime(),
  /** For a bandit's assignment: the share of traffic the variant had at that moment (0..1). */
  probability: z.optional(z.number().check(z.gte(0), z.lte(1))),
});
export type ExposureMessage = z.infer<typeof ExposureMessage>;

/** Variant → its share of a bandit's traffic (0..1); at most 20 variants, as experiments have. */
export const VariantShares = z
  .record(z.string().check(z.maxLength(64)), z.number().check(z.gte(0), z.lte(1)))
  .check(z.refine((shares) => Object.keys(shares).length <= 20, "at most 20 variants"));

/** Experiment → variant → share, for the experiments a bandit assigned in one decision. */
export const BanditAllocations = z.record(z.string().check(z.maxLength(64)), VariantShares);
export type BanditAllocations = z.infer<typeof BanditAllocations>;

/**
 * All exposures of one decision as one queue message (one queue operation per page view); the
 * consumer turns each assignment into its own `ExposureMessage` record upstream.
 */
export const ExposureBatchMessage = z.strictObject({
  v: z.literal(1),
  kind: z.literal("exposures"),
  /** The decision id. */
  id: z.uuid(),
  visitor: Pseudonym,
  path: z.string().check(z.maxLength(512)),
  rulesVersion: z.int().check(z.positive()),
  holdout: z.boolean(),
  at: z.iso.datetime(),
  assignments: z.array(Assignment).check(z.minLength(1), z.maxLength(100)),
  /** Per experiment the bandit assigned: each variant's share of traffic at that moment (see `Decision`). */
  allocations: z.optional(BanditAllocations),
});
export type ExposureBatchMessage = z.infer<typeof ExposureBatchMessage>;

/**
 * The exposures of several decisions made close together in one isolate, as one queue message (one
 * queue operation per batch; see `workers/decide/exposure-log.ts`). Upstream it is the same records as
 * its decisions' `ExposureBatchMessage`s.
 */
export const MAX_DECISIONS_PER_MESSAGE = 64;

export const DecisionBatchMessage = z.strictObject({
  v: z.literal(1),
  kind: z.literal("decisions"),
  /** The batch's own id; each exposure upstream keeps `<decisionId>:<slot>`. */
  id: z.uuid(),
  decisions: z.array(ExposureBatchMessage).check(z.minLength(1), z.maxLength(MAX_DECISIONS_PER_MESSAGE)),
});
export type DecisionBatchMessage = z.infer<typeof DecisionBatchMessage>;

/** The exposure records a decision's message stands for. */
export function exposureRecords(message: ExposureBatchMessage): ExposureMessage[] {
  return message.assignments.map((assignment) => ({
    v: 1,
    kind: "exposure",
    id: `${message.id}:${assignment.slot}`,
    decisionId: message.id,
    visitor: message.visitor,
    ruleId: assignment.ruleId,
    slot: assignment.slot,
    experiment: assignment.experiment,
    variant: assignment.variant,
    holdout: message.holdout,
    path: message.path,
    rulesVersion: message.rulesVersion,
    at: message.at,
    ...(assignment.experiment !== null && assignment.variant !== null && message.allocations?.[assignment.experiment] !== undefined
      ? { probability: message.allocations[assignment.experiment]?.[assignment.variant] ?? 0 }
      : {}),
  }));
}

/** What a personalization is, for attributing clicks and conversions to it. */
const Attribution = Assignment.shape;

/**
 * A click inside a personalized slot (the tracker's `Promotion Clicked`) by a visitor Tailor had
 * shown that slot's personalization: attributed to that exposure only, whatever the event claimed.
 */
export const ClickMessage = z.strictObject({
  v: z.literal(1),
  kind: z.literal("click"),
  /** `<decisionId>:<slot>:click`: one per exposure, however often it was clicked. */
  id: z.string().check(z.minLength(1), z.maxLength(200)),
  visitor: Pseudonym,
  ...Attribution,
  /** The decision that showed the personalization, and when. */
  decisionId: z.string().check(z.minLength(1), z.maxLength(64)),
  exposedAt: z.iso.datetime(),
  at: z.iso.datetime(),
});
export type ClickMessage = z.infer<typeof ClickMessage>;

/**
 * A click whose exposure the visitor's Durable Object did not find yet (exposures reach the memory
 * only after the consumer delivered them, a second or so after the page). The consumer attributes
 * it once the exposure is remembered, or drops it after a few attempts: it is never sent upstream
 * itself (the event is, on the events topic), only the `ClickMessage` it becomes.
 */
export const ClickClaimMessage = z.strictObject({
  v: z.literal(1),
  kind: z.literal("click-claim"),
  /** The click event's `messageId`. */
  id: z.string().check(z.minLength(1), z.maxLength(128)),
  visitor: Pseudonym,
  /** The pseudonyms of a user's linked visitors, whose exposures count too. */
  aliases: z.array(Pseudonym).check(z.maxLength(8)),
  /** What the browser says it clicked: only used to pick among the visitor's own exposures. */
  ...z.pick(Assignment, { ruleId: true, slot: true }).shape,
  at: z.iso.datetime(),
});
export type ClickClaimMessage = z.infer<typeof ClickClaimMessage>;

/** A conversion (`Order Completed`, `Product Added`) by a visitor exposed to a personalization within the attribution window. */
export const ConversionMessage = z.strictObject({
  v: z.literal(1),
  kind: z.literal("conversion"),
  /**
   * `<decisionId>:<slot>:<event>` (e.g. `…:hero:order-completed`): one per exposure and conversion
   * event, whatever the browser's `messageId`, so experiment counts credit each exposure once.
   */
  id: z.string().check(z.minLength(1), z.maxLength(300)),
  visitor: Pseudonym,
  event: z.string().check(z.maxLength(200)),
  /** Order revenue or product price, when the event carried one; capped at `MAX_CONVERSION_VALUE`. */
  value: z.nullable(z.number()),
  ...Attribution,
  decisionId: z.nullable(z.string().check(z.maxLength(64))),
  exposedAt: z.iso.datetime(),
  at: z.iso.datetime(),
});
export type ConversionMessage = z.infer<typeof ConversionMessage>;

export const QueueMessage = z.discriminatedUnion("kind", [
  EventBatchMessage,
  ExposureBatchMessage,
  DecisionBatchMessage,
  ClickMessage,
  ClickClaimMessage,
  ConversionMessage,
]);
export type QueueMessage = z.infer<typeof QueueMessage>;
