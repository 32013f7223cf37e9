/**
 * Checks a draft rules document beyond its schema, for marketers: problems that would block a
 * publish (errors) and things that are probably not what was meant (warnings) — attributes no
 * visitor will ever have, rules that can never win and schedules already over. Regular expressions
 * that could backtrack catastrophically are refused earlier, by `validateDocument`, because a
 * document loaded from KV must be held to the same check.
 * @module
 */

import { pointerOf } from "../../shared/json-pointer.ts";
import { parseBehaviorPath } from "../../shared/profile/behavior.ts";
import { STATE_ATTRIBUTES } from "../../shared/profile/state.ts";
import { conditionPaths } from "../../shared/rules/condition.ts";
import type { RulesDocument } from "../../shared/rules/document.ts";
import type { DocumentProblem } from "../common/validate.ts";

export interface LintProblem extends DocumentProblem {
  severity: "error" | "warning";
}

const REQUEST_GROUPS = new Set(["page", "utm", "referrer", "geo", "device", "language", "languages", "time", "visitor"]);

/** Why an attribute path will never be set, or null when it can be. */
function unknownAttribute(path: string, document: RulesDocument): string | null {
  const [group = "", name = ""] = path.split(".");
  if (REQUEST_GROUPS.has(group)) return null;
  if (group === "behavior") {
    const parsed = parseBehaviorPath(path);
    return parsed.ok ? null : parsed.error;
  }
  if (group === "traits" || group === "consent") return name === "" ? `"${path}" needs a name after "${group}."` : null;
  if (group === "models") {
    const model = document.models[name];
    return model !== undefined && ("kv" in model || model.type === "logistic") ? null : `"${path}": there is no logistic model "${name}"`;
  }
  if (STATE_ATTRIBUTES.some((known) => path === known || path.startsWith(`${known}.`))) return null;
  return `"${path}" is not an attribute Tailor knows (request: ${[...REQUEST_GROUPS].join(", ")}; profile: behavior.*, session.*, recency.*, cart.*, orders.*, traits.*, consent.*; models.*)`;
}

function samePages(covering: readonly string[], covered: readonly string[]): boolean {
  return covered.every(
    (page) => covering.includes(page) || covering.some((pattern) => pattern.endsWith("*") && page.startsWith(pattern.slice(0, -1))),
  );
}

export function lintDocument(document: RulesDocument, now: number): LintProblem[] {
  const problems: LintProblem[] = [];
  const groups = Object.fromEntries(
    Object.entries(document.audiences).map(([name, condition]) => [name, { type: "condition", condition }]),
  );
  const conditions: [(string | number)[], Record<string, unknown>][] = [
    ...document.rules.map((rule, index): [(string | number)[], Record<string, unknown>] => [["rules", index, "condition"], rule.condition]),
    ...Object.entries(document.audiences).map(([name, condition]): [(string | number)[], Record<string, unknown>] => [
      ["audiences", name],
      condition,
    ]),
  ];
  for (const [path, condition] of conditions) {
    for (const attribute of conditionPaths(condition, groups)) {
      const reason = unknownAttribute(attribute, document);
      if (reason !== null) problems.push({ pointer: pointerOf(path), message: reason, severity: "warning" });
    }
  }

  const ordered = document.rules
    .map((rule, index) => ({ rule, index }))
    .sort((a, b) => b.rule.priority - a.rule.priority || a.index - b.index);
  ordered.forEach(({ rule, index }, position) => {
    const at = (...path: (string | number)[]) => pointerOf(["rules", index, ...path]);
    if (rule.schedule?.end !== undefined && Date.parse(rule.schedule.end) <= now) {
      problems.push({
        pointer: at("schedule", "end"),
        message: `rule "${rule.id}" has ended and will never apply again`,
        severity: "warning",
      });
    }
    const slots = [
      ...new Set([
        ...Object.keys(rule.actions),
        ...Object.values(rule.experiment?.variants ?? {}).flatMap((actions) => Object.keys(actions)),
      ]),
    ];
    if (slots.length === 0 && rule.page === undefined)
      problems.push({ pointer: at("actions"), message: `rule "${rule.id}" changes nothing`, severity: "warning" });
    const winner = ordered.slice(0, position).find(({ rule: earlier }) => {
      const always =
        Object.keys(earlier.condition).length === 0 &&
        earlier.audience === undefined &&
        earlier.schedule === undefined &&
        earlier.experiment === undefined;
      const earlierSlots = Object.keys(earlier.actions);
      return always && slots.length > 0 && slots.every((slot) => earlierSlots.includes(slot)) && samePages(earlier.pages, rule.pages);
    });
    if (winner !== undefined) {
      problems.push({
        pointer: at("priority"),
        message: `rule "${rule.id}" can never win: "${winner.rule.id}" has higher priority, matches everyone on the same pages and takes the same slots`,
        severity: "warning",
      });
    }
  });
  return problems;
}
