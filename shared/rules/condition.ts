/**
 * Targeting conditions with every `$regex` pattern checked as it is compiled (regex-safety.ts): the
 * entry point for anything that compiles conditions it has not seen checked, such as the admin's
 * validation and preview, tests and benchmarks. The compiler itself is condition-compiler.ts; the
 * page path uses it directly, with patterns the rules' signature vouches for.
 * @module
 */
import { type CompiledCondition, type Condition, compileConditionWith, type RegexFactory, type SavedGroups } from "./condition-compiler.ts";
import { checkRegex } from "./regex-safety.ts";

export {
  type CompiledCondition,
  type Condition,
  conditionPaths,
  MAX_REGEX_INPUT,
  type RegexFactory,
  type SavedGroups,
} from "./condition-compiler.ts";

/** Builds a pattern only when the safety check accepts it (an invalid or catastrophic one matches nothing). */
export const checkedRegex: RegexFactory = (pattern, flags) => {
  const checked = checkRegex(pattern, flags);
  return checked.ok ? checked.value : null;
};

/** Compiles `condition` once, checking its patterns; the result can be called for any number of attribute objects. */
export function compileCondition(condition: Condition, savedGroups: SavedGroups = {}): CompiledCondition {
  return compileConditionWith(condition, savedGroups, checkedRegex);
}

const cache = new WeakMap<object, WeakMap<object, CompiledCondition>>();

/** Evaluates `condition` against `attributes`; compiled conditions are cached per condition object. */
export function evalCondition(attributes: unknown, condition: Condition, savedGroups: SavedGroups = {}): boolean {
  let byGroups = cache.get(condition);
  if (byGroups === undefined) {
    byGroups = new WeakMap();
    cache.set(condition, byGroups);
  }
  let compiled = byGroups.get(savedGroups);
  if (compiled === undefined) {
    compiled = compileCondition(condition, savedGroups);
    byGroups.set(savedGroups, compiled);
  }
  return compiled(attributes);
}
