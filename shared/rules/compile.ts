/**
 * Turns a parsed rules document into what the decision step runs per request: conditions compiled
 * to closures, rules sorted by priority, page patterns turned into matchers, and the list of
 * profile attributes the rules read. This happens once per rules version per isolate.
 * @module
 */

import { isProfileAttribute } from "../profile/behavior.ts";
import { type CompiledCondition, compileCondition, conditionPaths } from "./condition.ts";
import type { Rule, RulesDocument, SlotAction } from "./document.ts";

export interface CompiledRule {
  rule: Rule;
  matches: CompiledCondition;
  appliesTo: (path: string) => boolean;
}

export interface CompiledRules {
  version: number;
  document: RulesDocument;
  /** Highest priority first; among equals, the order of the document. */
  rules: CompiledRule[];
  /** Every attribute path any rule's condition reads. */
  attributePaths: string[];
  /** The subset the visitor's Durable Object answers: what a page asks it for. */
  profileAttributes: string[];
}

/** One slot's outcome for one request: which rule won it and what it does. */
export interface SlotDecision {
  slot: string;
  selector: string;
  ruleId: string;
  action: SlotAction;
}

function compilePages(patterns: readonly string[]): (path: string) => boolean {
  const exact = new Set(patterns.filter((pattern) => !pattern.endsWith("*")));
  const prefixes = patterns.filter((pattern) => pattern.endsWith("*")).map((pattern) => pattern.slice(0, -1));
  return (path) => exact.has(path) || prefixes.some((prefix) => path.startsWith(prefix));
}

export function compileRules(document: RulesDocument): CompiledRules {
  const rules = document.rules
    .map((rule, index) => ({ rule, index }))
    .sort((a, b) => b.rule.priority - a.rule.priority || a.index - b.index)
    .map(({ rule }) => ({ rule, matches: compileCondition(rule.condition), appliesTo: compilePages(rule.pages) }));
  const attributePaths = new Set<string>();
  for (const rule of document.rules) for (const path of conditionPaths(rule.condition)) attributePaths.add(path);
  const paths = [...attributePaths];
  return { version: document.version, document, rules, attributePaths: paths, profileAttributes: paths.filter(isProfileAttribute) };
}

/** Whether any rule targets `path` at all; pages no rule targets are passed through untouched. */
export function targetsPath(rules: CompiledRules, path: string): boolean {
  return rules.rules.some((compiled) => compiled.appliesTo(path));
}

/** Picks one winning rule per slot: the highest-priority matching rule that acts on it. */
export function decideSlots(rules: CompiledRules, path: string, attributes: unknown): SlotDecision[] {
  const decisions: SlotDecision[] = [];
  const taken = new Set<string>();
  for (const { rule, matches, appliesTo } of rules.rules) {
    if (!appliesTo(path) || !matches(attributes)) continue;
    for (const [slot, action] of Object.entries(rule.actions)) {
      const definition = rules.document.slots[slot];
      if (definition === undefined || taken.has(slot)) continue;
      taken.add(slot);
      decisions.push({ slot, selector: definition.selector, ruleId: rule.id, action });
    }
  }
  return decisions;
}
