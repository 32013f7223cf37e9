/**
 * The rules document marketers publish: the page slots Tailor may change, named audiences,
 * experiments, models, and the rules that decide who sees what. It lives in KV (docs/storage.md)
 * and is parsed here, at the boundary, before anything uses it; `docs/rules.schema.json` is
 * generated from these schemas for editors and other tools.
 * @module
 */

import { isSafeUrl, setAttributeProblem } from "../html/attributes.ts";
import * as z from "../zod.ts";
import { checkSelector } from "./selector.ts";

/** Identifiers used as keys: rule ids, slot, audience, experiment, variant and model names. */
export const Name = z
  .string()
  .check(z.regex(/^[a-z][a-z0-9_-]{0,63}$/, "use lower-case letters, digits, '-' and '_', starting with a letter (at most 64)"));

/**
 * Marketer-written HTML, inserted into pages as HTML. Besides its length, it must pass the parsed
 * allowlist (shared/html/markup.ts); that check needs an HTML parser, so it is not part of this
 * schema but runs on the parsed document (shared/rules/markup-checks.ts) wherever a document is
 * validated in full, which the page path no longer does (it trusts signed versions only).
 */
const Html = z.string().check(z.maxLength(50_000));

/**
 * A recommendation card: allowlisted HTML whose placeholders all stand where they can be escaped
 * (shared/html/template.ts); checked, like `Html`, by shared/rules/markup-checks.ts.
 */
const Template = z.string().check(z.maxLength(50_000));

/**
 * A redirect target: a safe URL (shared/html/markup.ts) written in printable ASCII only. Control characters,
 * raw or percent-encoded (`%0d%0a`), could split or smuggle headers and have no place in a URL
 * a marketer types; non-ASCII must be percent-encoded to be a valid header value.
 */
const RedirectTarget = z.string().check(
  z.minLength(1),
  z.maxLength(2_048),
  z.regex(/^[\x21-\x7e]+$/, "redirect targets are printable ASCII without spaces or control characters (percent-encode the rest)"),
  z.refine((to) => !/%(?:[01][0-9a-f]|7f)/i.test(to), "redirect targets may not carry encoded control characters (%00-%1F, %7F)"),
  z.refine(isSafeUrl, "redirects must go to an http(s) or relative URL"),
);

/**
 * Response headers a rule may set: `x-*` only, and not the `x-` headers that carry security or
 * indexing policy (the origin and Tailor own those; a rule must not weaken them).
 */
const PROTECTED_X_HEADERS = new Set([
  "x-frame-options",
  "x-content-type-options",
  "x-xss-protection",
  "x-robots-tag",
  "x-content-security-policy",
  "x-webkit-csp",
  "x-permitted-cross-domain-policies",
  "x-dns-prefetch-control",
  "x-download-options",
  "x-ua-compatible",
]);

const HeaderName = z.string().check(
  z.regex(/^x-[a-z0-9-]{1,60}$/i, "only x-* response headers may be set (security, caching and cookie headers belong to the origin)"),
  z.refine(
    (name) => !PROTECTED_X_HEADERS.has(name.toLowerCase()),
    "this header carries the page's security or indexing policy and cannot be set by a rule",
  ),
);

const AttributeName = z.string().check(z.regex(/^[a-zA-Z_:][a-zA-Z0-9_:.-]{0,63}$/, "not a valid attribute name"));

export const SlotAction = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("setText"), text: z.string().check(z.maxLength(10_000)) }),
  z.strictObject({ type: z.literal("setHtml"), html: Html }),
  z.strictObject({ type: z.literal("replace"), html: Html }),
  z.strictObject({ type: z.literal("before"), html: Html }),
  z.strictObject({ type: z.literal("after"), html: Html }),
  z.strictObject({ type: z.literal("prepend"), html: Html }),
  z.strictObject({ type: z.literal("append"), html: Html }),
  z.strictObject({ type: z.literal("remove") }),
  z.strictObject({ type: z.literal("setAttribute"), name: AttributeName, value: z.string().check(z.maxLength(2_048)) }).check(
    z.superRefine((action, context) => {
      const problem = setAttributeProblem(action.name, action.value);
      if (problem === null) return;
      // Point at the name when the name alone is refused (any value), else at the value.
      const field = setAttributeProblem(action.name, "") === null ? "value" : "name";
      context.addIssue({ code: "custom", message: problem, path: [field] });
    }),
  ),
  z.strictObject({ type: z.literal("removeAttribute"), name: AttributeName }),
  z.strictObject({ type: z.literal("addClass"), className: z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/)) }),
  z.strictObject({ type: z.literal("removeClass"), className: z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/)) }),
  /** Appends `<script type="application/json" id="...">` with the data, for the page's own code. */
  z.strictObject({ type: z.literal("injectJson"), id: z.string().check(z.regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/)), data: z.json() }),
  /** Fills the slot with product cards from an item-to-item model, based on the visitor's recent views. */
  z.strictObject({
    type: z.literal("recommendations"),
    model: Name,
    count: z._default(z.int().check(z.gte(1), z.lte(24)), 4),
    /** HTML for one item; `{{id}} {{name}} {{url}} {{price}} {{category}}` are replaced, escaped. */
    template: Template,
  }),
]);
export type SlotAction = z.infer<typeof SlotAction>;

/** Slot name → action. */
export const SlotActions = z.record(Name, SlotAction);
export type SlotActions = z.infer<typeof SlotActions>;

/** Whole-page effects of a rule, applied when it matches (and is the highest-priority one that has them). */
export const PageActions = z.strictObject({
  redirect: z.optional(
    z.strictObject({
      to: RedirectTarget,
      status: z._default(z.union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)]), 302),
    }),
  ),
  headers: z.optional(z.record(HeaderName, z.string().check(z.maxLength(1_024), z.regex(/^[\t\x20-\x7e]*$/)))),
});
export type PageActions = z.infer<typeof PageActions>;

export const Slot = z.strictObject({
  /** CSS selector of the element(s) the slot's actions apply to; HTMLRewriter's selector subset. */
  selector: z.string().check(
    z.minLength(1),
    z.maxLength(256),
    z.superRefine((selector, context) => {
      const problem = checkSelector(selector);
      if (problem !== null) context.addIssue({ code: "custom", message: problem });
    }),
  ),
  description: z.optional(z.string().check(z.maxLength(500))),
});
export type Slot = z.infer<typeof Slot>;

/** A MongoDB-style condition (GrowthBook syntax); checked further by the condition compiler. */
export const Condition = z.record(z.string().check(z.maxLength(256)), z.unknown());

/** A share between 0 and 1. */
const Share = z.number().check(z.gte(0), z.lte(1));

export const Experiment = z
  .strictObject({
    description: z.optional(z.string().check(z.maxLength(500))),
    /** Hash seed; defaults to the experiment's name. */
    seed: z.optional(z.string().check(z.maxLength(128))),
    hashVersion: z._default(z.union([z.literal(1), z.literal(2)]), 2),
    /** Share of eligible visitors who enter the experiment, 0..1. */
    coverage: z._default(Share, 1),
    variants: z.array(Name).check(z.minLength(2), z.maxLength(20)),
    /** Planned split, one weight per variant, summing to 1; equal when absent. */
    weights: z.optional(z.array(Share)),
    /** Mutually exclusive experiments share a namespace id and take disjoint [start, end) ranges. */
    namespace: z.optional(z.tuple([Name, Share, Share])),
    /** `bandit`: pick the variant by Thompson sampling on observed rewards (see `reward`) instead of a fixed split. */
    allocation: z._default(z.enum(["fixed", "bandit"]), "fixed"),
    /**
     * What a bandit learns from: `clicks` in the experiment's slots (when absent) or `conversions`
     * (orders and basket adds credited to the experiment). Fixed splits ignore it.
     */
    reward: z.optional(z.enum(["clicks", "conversions"])),
    /** Prior successes/trials per variant, used by the bandit until live counts are available. */
    counts: z.optional(z.record(Name, z.strictObject({ successes: z.int().check(z.gte(0)), trials: z.int().check(z.gte(0)) }))),
    /** A paused experiment assigns nobody: its rule is skipped and visitors see the default content. */
    paused: z.optional(z.boolean()),
  })
  .check(
    z.refine((experiment) => experiment.weights === undefined || experiment.weights.length === experiment.variants.length, {
      message: "weights needs one entry per variant",
      path: ["weights"],
    }),
    z.refine(
      (experiment) => experiment.weights === undefined || Math.abs(experiment.weights.reduce((sum, weight) => sum + weight, 0) - 1) <= 0.01,
      {
        message: "weights must add up to 1",
        path: ["weights"],
      },
    ),
  );
export type Experiment = z.infer<typeof Experiment>;

export const Rule = z.strictObject({
  id: Name,
  description: z.optional(z.string().check(z.maxLength(500))),
  /** Higher wins when two rules want the same slot. */
  priority: z._default(z.int().check(z.gte(-1_000_000), z.lte(1_000_000)), 0),
  /** Paths the rule applies to: exact (`/`) or a prefix ending in `*` (`/c/*`). */
  pages: z._default(z.array(z.string().check(z.startsWith("/"), z.maxLength(256))).check(z.minLength(1)), ["/"]),
  /** When the rule is active (ISO 8601, end exclusive); always when absent. */
  schedule: z.optional(
    z
      .strictObject({ start: z.optional(z.iso.datetime({ offset: true })), end: z.optional(z.iso.datetime({ offset: true })) })
      .check(
        z.refine(
          (schedule) => schedule.start === undefined || schedule.end === undefined || Date.parse(schedule.start) < Date.parse(schedule.end),
          "start must be before end",
        ),
      ),
  ),
  /** A named audience the visitor must be in (in addition to `condition`). */
  audience: z.optional(Name),
  /** `{}` matches everyone. */
  condition: z._default(Condition, {}),
  /** Slot actions when the rule is not an experiment. */
  actions: z._default(SlotActions, {}),
  page: z.optional(PageActions),
  /** Run the rule as an experiment: one set of slot actions per variant (`{}` shows the default content). */
  experiment: z.optional(z.strictObject({ id: Name, variants: z.record(Name, SlotActions) })),
  /** A paused rule is skipped for everyone, as if it were not in the document. */
  paused: z.optional(z.boolean()),
});
export type Rule = z.infer<typeof Rule>;

export const LogisticModel = z.strictObject({
  type: z.literal("logistic"),
  description: z.optional(z.string().check(z.maxLength(500))),
  intercept: z.number(),
  /** Attribute path → weight; a missing or non-numeric attribute counts as 0 (booleans as 0/1). */
  weights: z
    .record(z.string().check(z.maxLength(256)), z.number())
    .check(z.refine((weights) => Object.keys(weights).length <= 200, "at most 200 weights")),
});

const ProductId = z.string().check(z.maxLength(64));

export const ItemToItemModel = z.strictObject({
  type: z.literal("itemToItem"),
  description: z.optional(z.string().check(z.maxLength(500))),
  /** Product id → related product ids, best first. */
  related: z.record(ProductId, z.array(ProductId).check(z.maxLength(50))),
  /** Product id → what a card shows. */
  items: z.record(
    ProductId,
    z.strictObject({
      name: z.string().check(z.maxLength(200)),
      url: z
        .string()
        .check(z.maxLength(512), z.refine(isSafeUrl, "item URLs must be http(s) or relative (after HTML entities are decoded)")),
      price: z.optional(z.number()),
      category: z.optional(z.string().check(z.maxLength(64))),
    }),
  ),
  /** Shown when the visitor has no recent views (or none with related items). */
  fallback: z._default(z.array(ProductId).check(z.maxLength(50)), []),
});

export const Model = z.discriminatedUnion("type", [LogisticModel, ItemToItemModel]);
export type Model = z.infer<typeof Model>;

/** The KV key of a separately published model: `models:` and a name, versioned by convention (`models:related:v3`). */
export const ModelKey = z.string().check(z.regex(/^models:[a-z0-9:_-]{1,120}$/, "model keys start with models:"));

/** The models a document uses: inline, or by reference to a separately published model document in KV. */
export const ModelReference = z.union([Model, z.strictObject({ kv: ModelKey })]);

export const Holdout = z.strictObject({
  /** Share of all visitors (0..0.5) who never get personalization, to measure its lift. */
  share: z.number().check(z.gte(0), z.lte(0.5)),
  seed: z._default(z.string().check(z.maxLength(128)), "tailor-holdout"),
});

export const RulesDocument = z
  .strictObject({
    version: z.int().check(z.positive()),
    description: z.optional(z.string().check(z.maxLength(2_000))),
    slots: z.record(Name, Slot),
    audiences: z._default(z.record(Name, Condition), {}),
    experiments: z._default(z.record(Name, Experiment), {}),
    models: z._default(z.record(Name, ModelReference), {}),
    holdout: z.optional(Holdout),
    rules: z.array(Rule).check(z.maxLength(1_000)),
  })
  .check(
    z.superRefine((document, context) => {
      const seen = new Set<string>();
      const usedExperiments = new Map<string, number>();
      document.rules.forEach((rule, index) => {
        const at = (...path: (string | number)[]) => ["rules", index, ...path];
        if (seen.has(rule.id)) context.addIssue({ code: "custom", path: at("id"), message: `duplicate rule id "${rule.id}"` });
        seen.add(rule.id);
        if (rule.audience !== undefined && !Object.hasOwn(document.audiences, rule.audience)) {
          context.addIssue({ code: "custom", path: at("audience"), message: `unknown audience "${rule.audience}"` });
        }
        const actionSets: [SlotActions, (string | number)[]][] = [[rule.actions, at("actions")]];
        if (rule.experiment !== undefined) {
          if (Object.keys(rule.actions).length > 0)
            context.addIssue({
              code: "custom",
              path: at("actions"),
              message: "an experiment rule puts its actions under experiment.variants",
            });
          const experiment = document.experiments[rule.experiment.id];
          if (experiment === undefined) {
            context.addIssue({ code: "custom", path: at("experiment", "id"), message: `unknown experiment "${rule.experiment.id}"` });
          } else {
            const previous = usedExperiments.get(rule.experiment.id);
            if (previous !== undefined)
              context.addIssue({
                code: "custom",
                path: at("experiment", "id"),
                message: `experiment "${rule.experiment.id}" is already run by rule ${previous}`,
              });
            usedExperiments.set(rule.experiment.id, index);
            for (const variant of experiment.variants) {
              if (!Object.hasOwn(rule.experiment.variants, variant))
                context.addIssue({
                  code: "custom",
                  path: at("experiment", "variants"),
                  message: `variant "${variant}" has no actions (use {} for the default content)`,
                });
            }
            for (const variant of Object.keys(rule.experiment.variants)) {
              if (!experiment.variants.includes(variant))
                context.addIssue({
                  code: "custom",
                  path: at("experiment", "variants", variant),
                  message: `"${variant}" is not a variant of experiment "${rule.experiment.id}"`,
                });
            }
          }
          for (const [variant, actions] of Object.entries(rule.experiment.variants))
            actionSets.push([actions, at("experiment", "variants", variant)]);
        }
        for (const [actions, path] of actionSets) {
          for (const [slot, action] of Object.entries(actions)) {
            if (!Object.hasOwn(document.slots, slot))
              context.addIssue({ code: "custom", path: [...path, slot], message: `unknown slot "${slot}"` });
            if (action.type === "recommendations" && !Object.hasOwn(document.models, action.model)) {
              context.addIssue({ code: "custom", path: [...path, slot, "model"], message: `unknown model "${action.model}"` });
            }
          }
        }
      });
    }),
  );
export type RulesDocument = z.infer<typeof RulesDocument>;
/** The document as written, before defaults are filled in. */
export type RulesDocumentInput = z.input<typeof RulesDocument>;

/** The kill switch as the live pointer carries it: while present, every page passes through untouched. */
export const KillSwitchState = z.strictObject({
  reason: z.string().check(z.maxLength(500)),
  actor: z.string().check(z.maxLength(200)),
  at: z.iso.datetime({ offset: true }),
});
export type KillSwitchState = z.infer<typeof KillSwitchState>;

/**
 * A guarded rollout in progress: `version` serves `percent` of visitors (by a hash of their
 * pseudonym salted with `salt`), the pointer's own version the rest, until `endsAt`.
 */
export const RolloutState = z.strictObject({
  version: z.int().check(z.positive()),
  percent: z.int().check(z.gte(1), z.lte(100)),
  salt: z.string().check(z.minLength(1), z.maxLength(64)),
  startedAt: z.iso.datetime({ offset: true }),
  endsAt: z.iso.datetime({ offset: true }),
});
export type RolloutState = z.infer<typeof RolloutState>;

/** A guarded publish: the share of visitors who get the new version, and for how long. */
export const RolloutRequest = z.strictObject({
  percent: z.int().check(z.gte(1), z.lte(100), z.describe("Share of visitors (1..100) who get the new version during the rollout")),
  minutes: z
    .int()
    .check(z.gte(1), z.lte(1_440), z.describe("How long the rollout lasts before the new version goes to everyone (1..1440)")),
});

/**
 * The KV pointer naming the live version, plus what every isolate must see on the same refresh:
 * the kill switch and a guarded rollout in progress (absent when off / none).
 */
export const LivePointer = z.strictObject({
  version: z.int().check(z.positive()),
  killSwitch: z.optional(KillSwitchState),
  rollout: z.optional(RolloutState),
});
export type LivePointer = z.infer<typeof LivePointer>;

export const RULES_LIVE_KEY = "rules:live";
export function rulesVersionKey(version: number): string {
  return `rules:version:${version}`;
}
