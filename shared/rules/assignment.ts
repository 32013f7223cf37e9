/**
 * What a visitor was assigned in one slot: the rule that won it and, when the rule runs an
 * experiment, the experiment and variant. The one definition of this shape: decisions, exposure
 * and click messages, attribution and the exposure memory all derive theirs from it.
 * @module
 */
import * as z from "../zod.ts";

/** A rule's assignment in one slot; logged as an exposure even when it shows the default content. */
export const Assignment = z.strictObject({
  ruleId: z.string().check(z.minLength(1), z.maxLength(64)),
  slot: z.string().check(z.minLength(1), z.maxLength(64)),
  experiment: z.nullable(z.string().check(z.maxLength(64))),
  variant: z.nullable(z.string().check(z.maxLength(64))),
});
export type Assignment = z.infer<typeof Assignment>;
