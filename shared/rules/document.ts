/**
 * The rules document marketers publish: which page slots exist, and which rules change them for
 * which visitors. It lives in KV (see docs/storage.md) and is parsed here, at the boundary, before
 * anything uses it.
 * @module
 */
import { z } from "zod";

const Name = z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, "lower-case letters, digits, '-' and '_', starting with a letter");

export const Slot = z.strictObject({
  /** CSS selector of the element the slot's actions apply to. */
  selector: z.string().min(1).max(256),
  description: z.string().max(500).optional(),
});
export type Slot = z.infer<typeof Slot>;

export const SlotAction = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("setText"), text: z.string().max(10_000) }),
  z.strictObject({ type: z.literal("setHtml"), html: z.string().max(50_000) }),
]);
export type SlotAction = z.infer<typeof SlotAction>;

export const Rule = z.strictObject({
  id: Name,
  description: z.string().max(500).optional(),
  /** Higher wins when two rules want the same slot. */
  priority: z.number().int().default(0),
  /** Paths the rule applies to: exact (`/`) or a prefix ending in `*` (`/c/*`). */
  pages: z.array(z.string().startsWith("/").max(256)).min(1).default(["/"]),
  /** A GrowthBook-style condition over the visitor's attributes; `{}` matches everyone. */
  condition: z.record(z.string(), z.unknown()).default({}),
  actions: z.record(Name, SlotAction),
});
export type Rule = z.infer<typeof Rule>;

export const RulesDocument = z
  .strictObject({
    version: z.number().int().positive(),
    slots: z.record(Name, Slot),
    rules: z.array(Rule).max(1_000),
  })
  .superRefine((document, context) => {
    const seen = new Set<string>();
    document.rules.forEach((rule, index) => {
      if (seen.has(rule.id)) {
        context.addIssue({ code: "custom", path: ["rules", index, "id"], message: `duplicate rule id "${rule.id}"` });
      }
      seen.add(rule.id);
      for (const slot of Object.keys(rule.actions)) {
        if (!Object.hasOwn(document.slots, slot)) {
          context.addIssue({ code: "custom", path: ["rules", index, "actions", slot], message: `unknown slot "${slot}"` });
        }
      }
    });
  });
export type RulesDocument = z.infer<typeof RulesDocument>;

/** The KV pointer naming the live version. */
export const LivePointer = z.strictObject({ version: z.number().int().positive() });
export type LivePointer = z.infer<typeof LivePointer>;

export const RULES_LIVE_KEY = "rules:live";
export function rulesVersionKey(version: number): string {
  return `rules:version:${version}`;
}
