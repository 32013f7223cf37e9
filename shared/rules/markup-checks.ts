/**
 * The HTML in a parsed rules document, checked with the parser (shared/html/markup.ts): every
 * inserted string against the allowlist, every recommendation card compiled. These checks were
 * part of the document's schema; they live apart so the schema, which the page path still parses
 * signed versions with, does not pull in the parser. The compiled cards are what a publish stores
 * beside the document (under its signature), so the page path renders them without parsing.
 * @module
 */
import { checkHtml } from "../html/markup.ts";
import { compileTemplate } from "../html/template.ts";
import type { CompiledTemplate } from "../html/template-render.ts";
import type { RulesDocument, SlotActions } from "./document.ts";

/** A refused string: where it is in the document and why. */
export interface MarkupProblem {
  path: (string | number)[];
  message: string;
}

/** What the document's HTML came to: every problem, and each card template compiled (by source). */
export interface DocumentMarkup {
  problems: MarkupProblem[];
  templates: Record<string, CompiledTemplate>;
}

/** Every set of slot actions in the document, with its path: a rule's own, and each variant's. */
function actionSets(document: RulesDocument): [SlotActions, (string | number)[]][] {
  return document.rules.flatMap((rule, index): [SlotActions, (string | number)[]][] => [
    [rule.actions, ["rules", index, "actions"]],
    ...Object.entries(rule.experiment?.variants ?? {}).map(([variant, actions]): [SlotActions, (string | number)[]] => [
      actions,
      ["rules", index, "experiment", "variants", variant],
    ]),
  ]);
}

/** Checks the document's HTML and compiles its card templates. */
export function checkDocumentMarkup(document: RulesDocument): DocumentMarkup {
  const problems: MarkupProblem[] = [];
  const templates: Record<string, CompiledTemplate> = {};
  for (const [actions, path] of actionSets(document)) {
    for (const [slot, action] of Object.entries(actions)) {
      if ("html" in action) {
        for (const message of checkHtml(action.html)) problems.push({ path: [...path, slot, "html"], message });
      } else if (action.type === "recommendations") {
        const compiled = compileTemplate(action.template);
        if (compiled.ok) templates[action.template] = compiled.value;
        else for (const message of compiled.error) problems.push({ path: [...path, slot, "template"], message });
      }
    }
  }
  return { problems, templates };
}
