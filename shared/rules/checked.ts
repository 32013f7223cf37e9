/**
 * Compiling rules that nobody has vouched for: every `$regex` pattern analysed (regex-safety.ts)
 * and every recommendation card template parsed (shared/html/template.ts) as it is compiled. The
 * admin uses this for its previews and checks; the page path never does, because it compiles only
 * versions signed after these very checks ran at publish.
 * @module
 */
import { compileTemplate } from "../html/template.ts";
import { type CompiledRules, type CompileOptions, compileRules } from "./compile.ts";
import { checkedRegex } from "./condition.ts";
import type { RulesDocument } from "./document.ts";

/** Patterns checked, templates parsed: for documents that have not been through publish. */
export const CHECKED: CompileOptions = {
  regex: checkedRegex,
  template: (source) => {
    const compiled = compileTemplate(source);
    return compiled.ok ? compiled.value : null;
  },
};

/** `compileRules` with every pattern and template checked as it goes. */
export function compileCheckedRules(document: RulesDocument): CompiledRules {
  return compileRules(document, CHECKED);
}
