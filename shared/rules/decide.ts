/**
 * The decision itself, pure: given compiled rules, the visitor's attributes and the page, pick one
 * winning rule per slot (highest priority first), assign experiment variants, score models, fill
 * recommendations, and say why — the same function serves the HTML rewrite, the JSON decision API
 * and the explain trace, so they can never disagree.
 * @module
 */
import { chooseVariation, hash, inNamespace } from "../experiments/bucketing.ts";
import { recommend, renderItems } from "../models/recommendations.ts";
import { allocationProbabilities, chooseByShares, type VariantCounts } from "../models/thompson.ts";
import { type AttributeTree, nestAttributes } from "../profile/behavior.ts";
import type { Assignment } from "./assignment.ts";
import type { CompiledExperiment, CompiledModel, CompiledRules } from "./compile.ts";
import type { PageActions, SlotAction } from "./document.ts";

/** A slot action as the rewriter applies it: recommendations are already rendered to HTML. */
export type AppliedAction = Exclude<SlotAction, { type: "recommendations" }>;

/** A slot the page shows personalized: the assignment, where it goes and what it puts there. */
export interface SlotDecision extends Assignment {
  selector: string;
  action: AppliedAction;
}

export type { Assignment };

export interface RuleTrace {
  ruleId: string;
  outcome: "applied" | "skipped";
  reason: string;
  experiment?: string;
  variant?: string;
  bucket?: number;
  slots?: string[];
}

export interface Decision {
  slots: SlotDecision[];
  page: { redirect?: NonNullable<PageActions["redirect"]>; headers: Record<string, string>; ruleId?: string };
  /** The visitor is in the global holdout: nothing is applied, the assignments are logged for lift. */
  holdout: boolean;
  assignments: Assignment[];
  /**
   * Per bandit experiment assigned by the bandit: the share of traffic each variant had when this
   * visitor was assigned (the planned split the sample ratio check compares with).
   */
  allocations: Record<string, Record<string, number>>;
  scores: Record<string, number>;
  /** Stages that fell back to defaults, e.g. `model-missing:recs`. */
  fallbacks: string[];
  trace?: RuleTrace[];
}

export interface DecisionInput {
  path: string;
  /** Request and profile attributes, nested (`geo.country`, `behavior.views_10m...`). */
  attributes: AttributeTree;
  now: number;
  /** The value experiments hash: the visitor's pseudonym. */
  unit: string;
  /** Variants forced by a signed preview: experiment id → variant. Any forced variant also lifts the holdout. */
  forced?: Readonly<Record<string, string>>;
  /** Models that are loaded and usable (KV-referenced ones resolved by the caller). */
  model: (name: string) => CompiledModel | undefined;
  /**
   * Bandit arms the visitor was assigned before (experiment id → variant, `shared/rules/sticky.ts`):
   * kept while the variant still exists, instead of a new draw from the posterior.
   */
  remembered?: Readonly<Record<string, string>>;
  /** Live success/trial counts for bandit experiments, when available. */
  banditCounts?: (experiment: string) => Readonly<Record<string, VariantCounts>> | undefined;
  random?: () => number;
  explain?: boolean;
}

/**
 * A bandit's shares per compiled experiment and counts: estimated once per refresh of the live
 * counts (in the background, see `prepareBanditShares`), or once per rules version while the
 * priors are used.
 */
const banditShares = new WeakMap<CompiledExperiment, WeakMap<object, BanditShares>>();

interface BanditShares {
  /** In the order of the experiment's variants. */
  list: number[];
  byVariant: Record<string, number>;
}

/**
 * Estimates a bandit's shares for `live` counts ahead of the pages that need them (the decision
 * step calls it in the background when it refreshes the counts), so no page pays for the estimate.
 */
export function prepareBanditShares(
  experiment: CompiledExperiment,
  live: Readonly<Record<string, VariantCounts>> | undefined,
  random: () => number = Math.random,
): void {
  sharesFor(experiment, live, random);
}

function sharesFor(
  experiment: CompiledExperiment,
  live: Readonly<Record<string, VariantCounts>> | undefined,
  random: () => number,
): BanditShares {
  let byCounts = banditShares.get(experiment);
  if (byCounts === undefined) {
    byCounts = new WeakMap();
    banditShares.set(experiment, byCounts);
  }
  const key = live ?? experiment;
  let shares = byCounts.get(key);
  if (shares === undefined) {
    const counts = experiment.variants.map(
      (variant) => live?.[variant] ?? experiment.priorCounts?.[variant] ?? { successes: 0, trials: 0 },
    );
    const list = allocationProbabilities(counts, random);
    shares = { list, byVariant: Object.fromEntries(experiment.variants.map((variant, index) => [variant, list[index] ?? 0])) };
    byCounts.set(key, shares);
  }
  return shares;
}

function assignVariant(
  experiment: CompiledExperiment,
  input: DecisionInput,
):
  | { variant: string; bucket: number | undefined; forced: boolean; shares?: Record<string, number> }
  | { variant: null; reason: string; bucket?: number } {
  const forced = input.forced?.[experiment.id];
  if (forced !== undefined && experiment.variants.includes(forced)) return { variant: forced, bucket: undefined, forced: true };
  if (experiment.namespace !== undefined && !inNamespace(input.unit, experiment.namespace))
    return { variant: null, reason: "outside the experiment's namespace range" };
  const bucket = hash(experiment.seed, input.unit, experiment.hashVersion);
  if (bucket === null) return { variant: null, reason: "unknown hash version" };
  const index = chooseVariation(bucket, experiment.ranges);
  if (index < 0) return { variant: null, reason: "outside the experiment's coverage", bucket };
  if (experiment.allocation === "bandit") {
    // Sticky: a returning visitor keeps the arm first drawn for them while it exists; that
    // assignment was certain, so its recorded share is 1 (the sample ratio check stays exact).
    const remembered = input.remembered?.[experiment.id];
    if (remembered !== undefined && experiment.variants.includes(remembered))
      return {
        variant: remembered,
        bucket,
        forced: false,
        shares: Object.fromEntries(experiment.variants.map((variant) => [variant, variant === remembered ? 1 : 0])),
      };
    // Probability matching: the variant is drawn from the shares Thompson sampling would give, so
    // the probability of this assignment is known and recorded with the exposure.
    const random = input.random ?? Math.random;
    const shares = sharesFor(experiment, input.banditCounts?.(experiment.id), random);
    const chosen = experiment.variants[chooseByShares(shares.list, random())];
    if (chosen !== undefined) return { variant: chosen, bucket, forced: false, shares: shares.byVariant };
  }
  const variant = experiment.variants[index];
  return variant === undefined ? { variant: null, reason: "no variant for the bucket", bucket } : { variant, bucket, forced: false };
}

function applyModelScores(rules: CompiledRules, input: DecisionInput, fallbacks: string[]): Record<string, number> {
  const scores: Record<string, number> = {};
  for (const name of rules.scoredModels) {
    const model = input.model(name);
    if (model?.kind !== "logistic") {
      fallbacks.push(`model-missing:${name}`);
      continue;
    }
    scores[name] = model.score(input.attributes);
  }
  if (Object.keys(scores).length > 0) {
    nestAttributes(input.attributes, Object.fromEntries(Object.entries(scores).map(([name, score]) => [`models.${name}`, score])));
  }
  return scores;
}

function resolveAction(
  action: SlotAction,
  templates: CompiledRules["templates"],
  input: DecisionInput,
  fallbacks: string[],
): AppliedAction | null {
  if (action.type !== "recommendations") return action;
  const model = input.model(action.model);
  if (model?.kind !== "itemToItem") {
    fallbacks.push(`model-missing:${action.model}`);
    return null;
  }
  const recency = input.attributes.recency as { last_products?: unknown } | undefined;
  const recent = Array.isArray(recency?.last_products) ? recency.last_products.filter((id): id is string => typeof id === "string") : [];
  const ids = recommend(model.model, recent, action.count);
  if (ids.length === 0) {
    fallbacks.push(`recommendations-empty:${action.model}`);
    return null;
  }
  // Many visitors share recent views: render each combination once per model and template.
  const key = `${ids.join(",")}\u0000${action.template}`;
  let rendered = model.rendered.get(key);
  if (rendered === undefined) {
    const card = templates.get(action.template);
    const html = card === undefined ? null : renderItems(model.model, ids, card);
    if (html === null) {
      fallbacks.push(`template-invalid:${action.model}`);
      return null;
    }
    rendered = html;
    model.rendered.set(key, rendered);
  }
  return { type: "setHtml", html: rendered };
}

/** Decides the page for one visitor. */
export function decide(rules: CompiledRules, input: DecisionInput): Decision {
  const fallbacks: string[] = [];
  const trace: RuleTrace[] | undefined = input.explain ? [] : undefined;
  const scores = applyModelScores(rules, input, fallbacks);
  // A signed preview that forces variants shows them even to a visitor in the holdout: the person
  // checking variant "b" must see "b", whatever bucket their own browser falls in.
  const previewing = input.forced !== undefined && Object.keys(input.forced).length > 0;
  const holdout = !previewing && rules.holdout !== undefined && (hash(rules.holdout.seed, input.unit, 2) ?? 1) < rules.holdout.share;

  const slots: SlotDecision[] = [];
  const assignments: Assignment[] = [];
  const allocations: Decision["allocations"] = {};
  const taken = new Set<string>();
  const page: Decision["page"] = { headers: {} };
  let pageTaken = false;

  for (const compiled of rules.rules) {
    const { rule } = compiled;
    const skip = (reason: string, extra: Partial<RuleTrace> = {}) => trace?.push({ ruleId: rule.id, outcome: "skipped", reason, ...extra });
    if (!compiled.appliesTo(input.path)) {
      skip("not targeted at this page");
      continue;
    }
    if (rule.paused === true) {
      skip("paused");
      continue;
    }
    if (compiled.experiment !== undefined && rules.document.experiments[compiled.experiment.id]?.paused === true) {
      skip(`experiment "${compiled.experiment.id}" is paused`, { experiment: compiled.experiment.id });
      continue;
    }
    if (!compiled.activeAt(input.now)) {
      skip("outside its schedule");
      continue;
    }
    if (!compiled.matches(input.attributes)) {
      skip(rule.audience === undefined ? "condition not met" : "audience or condition not met");
      continue;
    }
    let actions = rule.actions;
    let variant: string | null = null;
    let bucket: number | undefined;
    if (compiled.experiment !== undefined) {
      const assigned = assignVariant(compiled.experiment, input);
      if (assigned.variant === null) {
        skip(`not in experiment "${compiled.experiment.id}": ${assigned.reason}`, {
          experiment: compiled.experiment.id,
          ...(assigned.bucket === undefined ? {} : { bucket: assigned.bucket }),
        });
        continue;
      }
      variant = assigned.variant;
      bucket = assigned.bucket;
      if (assigned.shares !== undefined) allocations[compiled.experiment.id] = assigned.shares;
      actions = rule.experiment?.variants[variant] ?? {};
    }
    const won: string[] = [];
    for (const slot of compiled.slots) {
      if (taken.has(slot)) continue;
      taken.add(slot);
      won.push(slot);
      assignments.push({ ruleId: rule.id, slot, experiment: compiled.experiment?.id ?? null, variant });
      const action = actions[slot];
      const selector = rules.document.slots[slot]?.selector;
      if (action === undefined || selector === undefined) continue;
      const applied = resolveAction(action, rules.templates, input, fallbacks);
      if (applied !== null)
        slots.push({ slot, selector, ruleId: rule.id, experiment: compiled.experiment?.id ?? null, variant, action: applied });
    }
    if (rule.page !== undefined && !pageTaken) {
      pageTaken = true;
      if (rule.page.redirect !== undefined) page.redirect = rule.page.redirect;
      Object.assign(page.headers, rule.page.headers ?? {});
      page.ruleId = rule.id;
    }
    const experimentTrace =
      compiled.experiment === undefined
        ? {}
        : { experiment: compiled.experiment.id, ...(variant === null ? {} : { variant }), ...(bucket === undefined ? {} : { bucket }) };
    if (won.length === 0 && page.ruleId !== rule.id) {
      trace?.push({
        ruleId: rule.id,
        outcome: "skipped",
        reason: "matched, but higher-priority rules already hold its slots",
        ...experimentTrace,
      });
    } else {
      trace?.push({ ruleId: rule.id, outcome: "applied", reason: "matched", slots: won, ...experimentTrace });
    }
  }

  const decision: Decision = holdout
    ? { slots: [], page: { headers: {} }, holdout, assignments, allocations, scores, fallbacks }
    : { slots, page, holdout, assignments, allocations, scores, fallbacks };
  if (trace !== undefined) decision.trace = trace;
  return decision;
}
