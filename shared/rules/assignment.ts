/**
 * What a visitor was assigned in one slot: the rule that won it and, when the rule runs an
 * experiment, the experiment and variant. The one definition of this shape: decisions, exposure
 * and click messages, attribution and the exposure memory all derive theirs from it.
 * @module
 */
import { z } from "zod";

/** A rule's assignment in one slot; logged as an exposure even when it shows the default content. */
export const Assignment = z.strictObject({
  ruleId: z.string().min(1).max(64),
  slot: z.string().min(1).max(64),
  experiment: z.string().max(64).nullable(),
  variant: z.string().max(64).nullable(),
});
export type Assignment = z.infer<typeof Assignment>;
