/**
 * Sticky bandit assignments: a visitor keeps the variant a bandit first drew for them, for the
 * experiment's life, while new visitors follow the current posterior (as GrowthBook's sticky
 * bucketing does for its bandits). The visitor's own object remembers the arm; the page's profile
 * read brings it back as the attribute `assignments.<experiment id>`, so remembering adds no wait.
 * A version resets everyone's arms by giving the experiment a new id.
 * @module
 */

import * as z from "../zod.ts";
import type { Assignment } from "./assignment.ts";

const PREFIX = "assignments.";

/** Experiment ids and variant names, as the rules document allows them. */
const Name = z.string().check(z.regex(/^[a-z][a-z0-9_-]{0,63}$/));

/** Most arms a visitor keeps; past it the oldest are forgotten (that visitor draws afresh there). */
export const MAX_ARMS = 50;

/** Remembered arms, experiment id → variant: what `UserSession.rememberAssignments` takes. */
export const RememberedArms = z
  .record(Name, Name)
  .check(z.refine((arms) => Object.keys(arms).length <= MAX_ARMS, `at most ${MAX_ARMS} arms`));
export type RememberedArms = z.infer<typeof RememberedArms>;

/** Arms as stored, oldest first, of any number (storage written before the limit was kept). */
export const StoredArms = z.record(Name, Name);

/**
 * `current` with `added` remembered as the newest (an experiment named again moves to the end),
 * keeping only the newest `MAX_ARMS`, so what is stored always reads back.
 */
export function withNewestArms(current: Readonly<Record<string, string>>, added: Readonly<Record<string, string>> = {}): RememberedArms {
  const older = Object.entries(current).filter(([experiment]) => added[experiment] === undefined);
  return Object.fromEntries([...older, ...Object.entries(added)].slice(-MAX_ARMS));
}

/** The profile attribute a remembered arm is read as. */
export function armAttribute(experiment: string): string {
  return `${PREFIX}${experiment}`;
}

/** The experiment a profile attribute names, if it is a remembered arm's. */
export function armExperiment(path: string): string | null {
  return path.startsWith(PREFIX) ? path.slice(PREFIX.length) : null;
}

/** The remembered arms among flat profile values (`{"assignments.hero_bandit": "bold"}`). */
export function armsFromProfile(profile: Readonly<Record<string, unknown>>): Record<string, string> {
  const arms: Record<string, string> = {};
  for (const [path, value] of Object.entries(profile)) {
    const experiment = armExperiment(path);
    if (experiment !== null && typeof value === "string") arms[experiment] = value;
  }
  return arms;
}

/** The bandit arms a decision drew that the visitor did not have yet: the ones to remember. */
export function armsToRemember(
  assignments: readonly Assignment[],
  bandits: readonly string[],
  remembered: Readonly<Record<string, string>>,
): RememberedArms {
  const fresh: RememberedArms = {};
  for (const { experiment, variant } of assignments) {
    if (experiment === null || variant === null || !bandits.includes(experiment)) continue;
    if (remembered[experiment] !== variant) fresh[experiment] = variant;
  }
  return fresh;
}
