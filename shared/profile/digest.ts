/**
 * The profile digest: a small copy of exactly what the live rules read about one visitor, made by
 * the visitor's object after each accepted batch and kept by the browser as a signed cookie, so a
 * page can decide without calling the object (see docs/decisions/0018-profile-digest.md).
 *
 * It holds inputs, not answers: the per-minute counts inside each behaviour window and the state
 * fields the attributes are computed from, so the page computes every value as of its own `now`
 * exactly as the object would (windows slide, sessions end, recency grows). A digest with `n` is
 * the empty profile: a visitor with no state at all, which answers every attribute.
 *
 * Remembered bandit arms are never covered: the page itself writes them, after the digest was made.
 * @module
 */
import * as z from "../zod.ts";
import { firstMinuteOf, parseBehaviorPath } from "./behavior.ts";
import { emptyState, type StateValue, stateAttribute, type VisitorState } from "./state.ts";

/** Version of the layout below; a digest of any other version is not used. */
export const DIGEST_VERSION = 1;

/**
 * How long a digest is used at most. Nothing but this browser's own events changes what it covers
 * (those replace it), so the limit only bounds what a missed update could cost.
 */
export const DIGEST_MAX_AGE_MS = 60 * 60_000;

/**
 * The digest as the cookie carries it (short keys: it travels with every page request). Only ever
 * read back after its signature was checked, so it is Tailor's own output.
 */
export const ProfileDigest = z.object({
  v: z.literal(DIGEST_VERSION),
  /** Expiry, milliseconds since the epoch. */
  e: z.int(),
  /** The empty profile: no events, no state; every attribute reads as for a new visitor. */
  n: z.optional(z.literal(1)),
  /** The non-behaviour attributes covered, e.g. `cart.items`, `traits.plan`. */
  a: z.optional(z.array(z.string())),
  /** The state fields those attributes are computed from (traits and consent only the named ones). */
  s: z.optional(z.record(z.string(), z.unknown())),
  /** Behaviour attribute → `[minute, count]` for every minute with a count still inside its window. */
  b: z.optional(z.record(z.string(), z.array(z.tuple([z.int(), z.int()])))),
});
export type ProfileDigest = z.infer<typeof ProfileDigest>;

/** Which state fields each state attribute is computed from (`stateAttribute`). */
const STATE_FIELDS: Readonly<Record<string, readonly (keyof VisitorState)[]>> = {
  "session.count": ["sessionCount"],
  "session.active": ["lastSeen"],
  "session.minutes": ["lastSeen", "sessionStart"],
  "session.page_views": ["lastSeen", "sessionPages"],
  "session.events": ["lastSeen", "sessionEvents"],
  "recency.minutes_since_last_seen": ["lastSeen"],
  "recency.days_since_first_seen": ["firstSeen"],
  "recency.last_category": ["lastCategory"],
  "recency.last_products": ["recentProducts"],
  "cart.value": ["cart"],
  "cart.items": ["cart"],
  "cart.products": ["cart"],
  "cart.categories": ["cart"],
  "orders.count": ["orders"],
};

/** What the object knows when it makes a digest. */
export interface DigestSource {
  state: VisitorState;
  /**
   * The per-minute counts of a behaviour attribute inside its window as of `now` (a lifetime
   * window as one entry at minute 0); null when the name is not a behaviour attribute.
   */
  counts(path: string): [number, number][] | null;
  /** Whether `path` is one of the page's own remembered arms (never covered). */
  isArm(path: string): boolean;
}

/** A digest covering `attributes` (those it can cover), valid until `expires`. */
export function makeDigest(attributes: readonly string[], source: DigestSource, expires: number): ProfileDigest {
  const covered: string[] = [];
  const state: Record<string, unknown> = {};
  const behaviour: Record<string, [number, number][]> = {};
  const traits: Record<string, unknown> = {};
  const consent: Record<string, unknown> = {};
  for (const path of attributes) {
    if (source.isArm(path)) continue;
    if (path.startsWith("behavior.")) {
      const counts = source.counts(path);
      if (counts !== null) behaviour[path] = counts;
      continue;
    }
    if (path.startsWith("traits.") || path.startsWith("consent.")) {
      const [group, from, into] = path.startsWith("traits.")
        ? (["traits.", source.state.traits, traits] as const)
        : (["consent.", source.state.consent, consent] as const);
      const name = path.slice(group.length);
      if (Object.hasOwn(from, name)) Object.defineProperty(into, name, { value: from[name], enumerable: true });
      covered.push(path);
      continue;
    }
    const fields = STATE_FIELDS[path];
    if (fields === undefined) continue;
    for (const field of fields) state[field] = source.state[field];
    covered.push(path);
  }
  if (Object.keys(traits).length > 0) state.traits = traits;
  if (Object.keys(consent).length > 0) state.consent = consent;
  return {
    v: DIGEST_VERSION,
    e: expires,
    ...(covered.length > 0 ? { a: covered, s: state } : {}),
    ...(Object.keys(behaviour).length > 0 ? { b: behaviour } : {}),
  };
}

/** The digest of a visitor with no state at all, valid until `expires`. */
export function emptyDigest(expires: number): ProfileDigest {
  return { v: DIGEST_VERSION, e: expires, n: 1 };
}

/**
 * The values of `attributes` as of `now`, as the object's `readProfile` would answer them, or null
 * when the digest does not cover one of them (then the page reads the object).
 */
export function digestValues(
  digest: ProfileDigest,
  attributes: readonly string[],
  now: number,
  isArm: (path: string) => boolean,
): Record<string, StateValue> | null {
  const empty = digest.n === 1;
  const state: VisitorState = empty ? emptyState() : { ...emptyState(), ...(digest.s as Partial<VisitorState> | undefined) };
  const values: Record<string, StateValue> = {};
  for (const path of attributes) {
    if (isArm(path)) return null;
    if (path.startsWith("behavior.")) {
      const counts = digest.b?.[path];
      const parsed = parseBehaviorPath(path);
      if (counts === undefined && !empty) return null;
      // The object leaves out names that are not behaviour attributes.
      if (!parsed.ok) continue;
      const first = firstMinuteOf(parsed.value.window, now);
      let sum = 0;
      for (const [minute, count] of counts ?? []) if (first === null || minute >= first) sum += count;
      values[path] = sum;
      continue;
    }
    if (!empty && digest.a?.includes(path) !== true) return null;
    const value = stateAttribute(state, path, now);
    if (value !== undefined) values[path] = value;
  }
  return values;
}
