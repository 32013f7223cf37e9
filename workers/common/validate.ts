/**
 * Validation of a rules document in full: the zod schema (shapes, references, selectors, URLs),
 * every inserted HTML string and card template parsed against the allowlist, every condition
 * compiled, every `$regex` pattern parsed and refused if it could backtrack catastrophically, and
 * every slot selector accepted by HTMLRewriter itself. The admin runs it before a publish (which
 * then signs the version) and on every version it shows; the page path does not run it at all: it
 * serves only versions whose signature says this ran (shared/rules/signature.ts).
 * @module
 */

import { pointerOf } from "../../shared/json-pointer.ts";
import { err, ok, type Result } from "../../shared/result.ts";
import { compileCondition } from "../../shared/rules/condition.ts";
import { RulesDocument } from "../../shared/rules/document.ts";
import { checkDocumentMarkup } from "../../shared/rules/markup-checks.ts";
import { conditionRegexProblems } from "../../shared/rules/regex-safety.ts";
import type * as z from "../../shared/zod.ts";
import { selectorProblem } from "./rewrite.ts";
import type { DocumentProblem } from "./rules-store.ts";

export type { DocumentProblem };

/** One problem per zod issue, pointing at the field it is about. */
function zodProblems(error: z.core.$ZodError): DocumentProblem[] {
  return error.issues.map((issue) => ({ pointer: pointerOf(issue.path), message: issue.message }));
}

/** The document parsed and checked as a whole, or every problem found in it. */
export function validateDocument(raw: unknown): Result<RulesDocument, DocumentProblem[]> {
  const parsed = RulesDocument.safeParse(raw);
  if (!parsed.success) return err(zodProblems(parsed.error));
  const document = parsed.data;
  const problems: DocumentProblem[] = checkDocumentMarkup(document).problems.map((problem) => ({
    pointer: pointerOf(problem.path),
    message: problem.message,
  }));
  for (const [name, slot] of Object.entries(document.slots)) {
    const problem = selectorProblem(slot.selector);
    if (problem !== null) problems.push({ pointer: pointerOf(["slots", name, "selector"]), message: problem });
  }
  const conditions: [readonly PropertyKey[], Record<string, unknown>][] = [
    ...document.rules.map((rule, index): [readonly PropertyKey[], Record<string, unknown>] => [
      ["rules", index, "condition"],
      rule.condition,
    ]),
    ...Object.entries(document.audiences).map(([name, condition]): [readonly PropertyKey[], Record<string, unknown>] => [
      ["audiences", name],
      condition,
    ]),
  ];
  for (const [path, condition] of conditions) {
    try {
      compileCondition(condition);
    } catch (error) {
      problems.push({ pointer: pointerOf(path), message: `the condition cannot be compiled: ${(error as Error).message}` });
    }
    // A refused pattern would compile to "never matches"; the author must hear why instead.
    for (const problem of conditionRegexProblems(condition))
      problems.push({ pointer: pointerOf([...path, ...problem.path]), message: problem.message });
  }
  return problems.length === 0 ? ok(document) : err(problems);
}
