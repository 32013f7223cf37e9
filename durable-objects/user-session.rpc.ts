/**
 * What callers hand the `UserSession` Durable Object and what it answers: the RPC arguments (parsed
 * by these schemas at the object's boundary) and results, plus the snapshot one object hands another
 * when a visitor is linked to a user.
 * @module
 */
import { RecordedEvent } from "../shared/events/recorded.ts";
import { Pseudonym } from "../shared/feedback/messages.ts";
import type { CounterRow, TotalRow } from "../shared/profile/export.ts";
import type { StateValue, VisitorState } from "../shared/profile/state.ts";
import * as z from "../shared/zod.ts";

/** A batch of accepted events for one visitor (`record`). */
export const RecordRequest = z.strictObject({
  visitor: Pseudonym,
  /** The pseudonyms of a user's linked visitors, whose exposures count for attribution too. */
  aliases: z.optional(z.array(Pseudonym).check(z.maxLength(8))),
  events: z.array(RecordedEvent).check(z.minLength(1), z.maxLength(100)),
});
export type RecordRequest = z.infer<typeof RecordRequest>;

/** The profile attributes the live rules use, read as of `now` (`readProfile`). */
export const ProfileRequest = z.strictObject({
  attributes: z.array(z.string().check(z.maxLength(256))).check(z.maxLength(500)),
  now: z.int().check(z.nonnegative()),
});
export type ProfileRequest = z.infer<typeof ProfileRequest>;

/** The profile attributes the live rules read, for the digest answered with a recorded batch (`recordWithDigest`). */
export const DigestRequest = z.strictObject({
  attributes: z.array(z.string().check(z.maxLength(256))).check(z.maxLength(500)),
});
export type DigestRequest = z.infer<typeof DigestRequest>;

/**
 * A recorded batch and the digest of the visitor's profile after it, as JSON text (a
 * `ProfileDigest`) with its expiry; null for a browser linked to a user.
 */
export interface DigestedRecordOutcome {
  outcome: RecordOutcome;
  digest: { json: string; expires: number } | null;
}

/** How many events of a batch were new and how many were retries of known `messageId`s. */
export interface RecordOutcome {
  accepted: number;
  duplicates: number;
}

/** What `linkToUser` did: linked an anonymous visitor, moved an alias to another user, or nothing. */
export type LinkOutcome = "linked" | "relinked" | "unchanged";

/** What `erase` deleted: the device's own data (and link), the user's too, or nothing at all. */
export type EraseOutcome = "device" | "user" | "not-linked-to-user";

/** Profile attributes by full name, e.g. `{"behavior.views_10m.category.electronics": 2, "cart.value": 80}`. */
export type ProfileValues = Record<string, StateValue>;

/** Everything one object holds, as handed from a visitor's object to a user's on `identify`. */
export interface SessionSnapshot {
  state: VisitorState;
  events: RecordedEvent[];
  /** Message ids still waiting in the outbox for the events queue. */
  unforwarded: string[];
  counters: CounterRow[];
  totals: TotalRow[];
  /** Remembered bandit arms, experiment id → variant (absent from snapshots of older code). */
  assignments?: Record<string, string>;
}

/** Rows an object read and wrote since it was loaded, for benchmarks and tests (`usage`). */
export interface StorageUsage {
  rowsRead: number;
  rowsWritten: number;
  eventsAccepted: number;
  /** Profile reads (the page path) answered, and the rows they read and wrote. */
  profileReads: { calls: number; rowsRead: number; rowsWritten: number };
  /** Rows held now: each will be written once more when deleted (prune, retention or erasure). */
  rowsStored: number;
}
