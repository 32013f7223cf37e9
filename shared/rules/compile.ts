/**
 * Turns a parsed rules document into what the decision step runs per request: conditions and
 * audiences compiled to closures, rules sorted by priority, page patterns and schedules turned
 * into checks, experiments into bucket ranges, models into scorers, and the list of profile
 * attributes the rules and models read. This happens once per rules version per isolate.
 *
 * What it needs from outside is passed in (`CompileOptions`): how `$regex` patterns are built and
 * where a recommendation card's compiled template comes from. The admin checks both as it compiles
 * (checked.ts); the page path takes them from a signed rules version, so neither the regex analyser
 * nor the HTML parser is in the visitors' Worker (docs/decisions/0016-admin-worker-signed-rules.md).
 * @module
 */
import { getBucketRanges, type VariationRange } from "../experiments/bucketing.ts";
import type { CompiledTemplate } from "../html/template-render.ts";
import { LruCache } from "../lru.ts";
import { compileLogistic, type Scorer } from "../models/logistic.ts";
import type { ItemToItemDefinition } from "../models/recommendations.ts";
import { profileAttributeFor } from "../profile/state.ts";
import { type CompiledCondition, compileConditionWith, conditionPaths, type RegexFactory, type SavedGroups } from "./condition-compiler.ts";
import type { Experiment, Model, PageActions, Rule, RulesDocument, SlotActions } from "./document.ts";

export interface CompiledExperiment {
  id: string;
  seed: string;
  hashVersion: 1 | 2;
  variants: readonly string[];
  ranges: readonly VariationRange[];
  namespace: readonly [string, number, number] | undefined;
  allocation: "fixed" | "bandit";
  priorCounts: Experiment["counts"];
}

export interface CompiledRule {
  rule: Rule;
  matches: CompiledCondition;
  appliesTo: (path: string) => boolean;
  activeAt: (now: number) => boolean;
  experiment: CompiledExperiment | undefined;
  /** Every slot the rule may act on, across all its variants: an experiment reserves them all. */
  slots: readonly string[];
}

/** A model ready to use, or a reference to a model document the Worker loads from KV. */
export type CompiledModel =
  | { kind: "logistic"; score: Scorer }
  | { kind: "itemToItem"; model: ItemToItemDefinition; rendered: LruCache<string, string> }
  | { kind: "kv"; key: string };

/** How patterns and card templates are made ready: checked (admin) or taken from a signed version (page path). */
export interface CompileOptions {
  regex: RegexFactory;
  /** The compiled form of a recommendation card's template; null when it cannot be used. */
  template: (source: string) => CompiledTemplate | null;
}

export interface CompiledRules {
  version: number;
  document: RulesDocument;
  /** Highest priority first; among equals, the order of the document. */
  rules: CompiledRule[];
  /** Every attribute path any condition, audience or model reads. */
  attributePaths: string[];
  /** The subset the visitor's Durable Object answers: what a page asks it for. */
  profileAttributes: string[];
  models: ReadonlyMap<string, CompiledModel>;
  /** Logistic models whose scores conditions read (`models.<name>`), in the order to score them. */
  scoredModels: readonly string[];
  holdout: { share: number; seed: string } | undefined;
  /** Experiments allocated by Thompson sampling, whose live counts the decision needs. */
  bandits: readonly string[];
  /** The top-level attribute names the rules read (`geo`, `utm`, `behavior`, ...), so requests compute only those. */
  groups: ReadonlySet<string>;
  /** Recommendation card templates by source, compiled; a template missing here renders nothing (default content). */
  templates: ReadonlyMap<string, CompiledTemplate>;
}

function compilePages(patterns: readonly string[]): (path: string) => boolean {
  const exact = new Set(patterns.filter((pattern) => !pattern.endsWith("*")));
  const prefixes = patterns.filter((pattern) => pattern.endsWith("*")).map((pattern) => pattern.slice(0, -1));
  if (prefixes.length === 0) return (path) => exact.has(path);
  return (path) => exact.has(path) || prefixes.some((prefix) => path.startsWith(prefix));
}

function compileSchedule(schedule: Rule["schedule"]): (now: number) => boolean {
  if (schedule === undefined) return () => true;
  const start = schedule.start === undefined ? Number.NEGATIVE_INFINITY : Date.parse(schedule.start);
  const end = schedule.end === undefined ? Number.POSITIVE_INFINITY : Date.parse(schedule.end);
  return (now) => now >= start && now < end;
}

export function compileModel(model: Model): CompiledModel {
  return model.type === "logistic"
    ? { kind: "logistic", score: compileLogistic(model) }
    : { kind: "itemToItem", model, rendered: new LruCache(500) };
}

function slotsOf(rule: Rule): string[] {
  const sets: SlotActions[] = [rule.actions, ...Object.values(rule.experiment?.variants ?? {})];
  return [...new Set(sets.flatMap((actions) => Object.keys(actions)))];
}

export function compileRules(document: RulesDocument, options: CompileOptions): CompiledRules {
  // Audiences double as GrowthBook saved groups, so conditions can also say {"$savedGroup": {"id": ...}}.
  const groups: SavedGroups = Object.fromEntries(
    Object.entries(document.audiences).map(([name, condition]) => [name, { type: "condition", condition }]),
  );
  const audiences = new Map(
    Object.entries(document.audiences).map(([name, condition]) => [name, compileConditionWith(condition, groups, options.regex)]),
  );

  const rules = document.rules
    .map((rule, index) => ({ rule, index }))
    .sort((a, b) => b.rule.priority - a.rule.priority || a.index - b.index)
    .map(({ rule }): CompiledRule => {
      const condition = compileConditionWith(rule.condition, groups, options.regex);
      const audience = rule.audience === undefined ? undefined : audiences.get(rule.audience);
      const definition = rule.experiment === undefined ? undefined : document.experiments[rule.experiment.id];
      return {
        rule,
        matches: audience === undefined ? condition : (attributes) => audience(attributes) && condition(attributes),
        appliesTo: compilePages(rule.pages),
        activeAt: compileSchedule(rule.schedule),
        slots: slotsOf(rule),
        experiment:
          rule.experiment === undefined || definition === undefined
            ? undefined
            : {
                id: rule.experiment.id,
                seed: definition.seed ?? rule.experiment.id,
                hashVersion: definition.hashVersion,
                variants: definition.variants,
                ranges: getBucketRanges(definition.variants.length, definition.coverage, definition.weights),
                namespace: definition.namespace,
                allocation: definition.allocation,
                priorCounts: definition.counts,
              },
      };
    });

  const models = new Map<string, CompiledModel>();
  for (const [name, reference] of Object.entries(document.models)) {
    models.set(name, "kv" in reference ? { kind: "kv", key: reference.kv } : compileModel(reference));
  }

  const paths = new Set<string>();
  const conditions = [...document.rules.map((rule) => rule.condition), ...Object.values(document.audiences)];
  for (const condition of conditions) for (const path of conditionPaths(condition, groups)) paths.add(path);
  const scoredModels = [...models.keys()].filter((name) => paths.has(`models.${name}`));
  for (const name of scoredModels) {
    const reference = document.models[name];
    if (reference !== undefined && !("kv" in reference) && reference.type === "logistic")
      for (const path of Object.keys(reference.weights)) paths.add(path);
  }
  const templates = new Map<string, CompiledTemplate>();
  let recommends = false;
  for (const rule of document.rules)
    for (const actions of [rule.actions, ...Object.values(rule.experiment?.variants ?? {})])
      for (const action of Object.values(actions)) {
        if (action.type !== "recommendations") continue;
        recommends = true;
        const template = templates.has(action.template) ? null : options.template(action.template);
        if (template !== null) templates.set(action.template, template);
      }
  if (recommends) paths.add("recency.last_products");
  const attributePaths = [...paths];

  return {
    version: document.version,
    document,
    rules,
    attributePaths,
    profileAttributes: [...new Set(attributePaths.map(profileAttributeFor).filter((name): name is string => name !== null))],
    models,
    scoredModels,
    holdout: document.holdout,
    groups: new Set(attributePaths.map((path) => path.split(".")[0] ?? path)),
    bandits: rules.flatMap((rule) => (rule.experiment?.allocation === "bandit" ? [rule.experiment.id] : [])),
    templates,
  };
}

/** Whether any rule targets `path` at all; pages no rule targets are passed through untouched. */
export function targetsPath(rules: CompiledRules, path: string): boolean {
  return rules.rules.some((compiled) => compiled.appliesTo(path));
}

export type { PageActions };
