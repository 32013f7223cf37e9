/**
 * Targeting conditions in the MongoDB-style syntax GrowthBook made the common language of edge
 * targeting (`{"geo.country": {"$in": ["DE", "AT"]}, "behavior.views_10m.category.electronics":
 * {"$gte": 2}}`), with the same answers as GrowthBook's `evalCondition` on every input, including
 * its edge cases: a missing attribute reads as `null`, comparisons coerce the way JavaScript does,
 * an invalid regular expression matches nothing.
 *
 * Unlike GrowthBook's interpreter, a condition is compiled once (per rules version) into a tree of
 * closures: operators are dispatched, paths split, regular expressions built, `$in` lists turned
 * into sets and literal values serialised at compile time, so evaluating it per request is a few
 * function calls. Workers forbid code generation (`eval`, `new Function`), so closures it is.
 * @module
 */
import { compilePath } from "../attribute-path.ts";

/** A condition object: attribute paths and the logical operators `$and $or $nor $not $savedGroup`. */
export type Condition = Readonly<Record<string, unknown>>;

/** Saved groups (GrowthBook's payload shape): `{type: "list", attributeKey, values}` or `{type: "condition", condition}`. */
export type SavedGroups = Readonly<Record<string, unknown>>;

/** A compiled condition: attributes in, match out. */
export type CompiledCondition = (attributes: unknown) => boolean;

type ValueTest = (value: unknown) => boolean;

const ALWAYS: CompiledCondition = () => true;
const NEVER: ValueTest = () => false;

/**
 * How much of a value a regular expression sees: longer values are cut to their first 1,024
 * characters before matching, so even an accepted pattern's work per value stays bounded.
 */
export const MAX_REGEX_INPUT = 1_024;

/**
 * Builds the RegExp for a `$regex` (`flags` "i" for `$regexi`), or null when it must match
 * nothing. Where the pattern was checked decides which one a caller passes: `checkedRegex`
 * (condition.ts) analyses it, `trustedRegex` only builds it, for documents whose signature says
 * they were checked at publish.
 */
export type RegexFactory = (pattern: string, flags: "" | "i") => RegExp | null;

/**
 * GrowthBook builds `$regex` patterns with every unescaped `/` escaped (they come from a `/.../`
 * literal in its editor); Tailor does the same so both match identically.
 */
export function regexSource(pattern: string): string {
  return pattern.replace(/([^\\])\//g, "$1\\/");
}

/** Builds a pattern without analysing it: only for documents checked at publish (their signature says so). */
export const trustedRegex: RegexFactory = (pattern, flags) => {
  try {
    return new RegExp(regexSource(pattern), flags);
  } catch {
    return null;
  }
};

interface Scope {
  groups: SavedGroups;
  regex: RegexFactory;
}

/** Compiles `condition` once with `regex` building its patterns; the result can be called for any number of attribute objects. */
export function compileConditionWith(condition: Condition, savedGroups: SavedGroups, regex: RegexFactory): CompiledCondition {
  return compileObject(condition, { groups: savedGroups, regex }, new Set());
}

function allOf(tests: CompiledCondition[]): CompiledCondition {
  switch (tests.length) {
    case 0:
      return ALWAYS;
    case 1:
      return tests[0] ?? ALWAYS;
    case 2: {
      const [first = ALWAYS, second = ALWAYS] = tests;
      return (object) => first(object) && second(object);
    }
    case 3: {
      const [first = ALWAYS, second = ALWAYS, third = ALWAYS] = tests;
      return (object) => first(object) && second(object) && third(object);
    }
    default:
      return (object) => {
        for (let index = 0; index < tests.length; index++) if (!(tests[index] as CompiledCondition)(object)) return false;
        return true;
      };
  }
}

function anyOf(tests: CompiledCondition[]): CompiledCondition {
  if (tests.length === 0) return ALWAYS;
  if (tests.length === 1) return tests[0] ?? ALWAYS;
  return (object) => {
    for (let index = 0; index < tests.length; index++) if ((tests[index] as CompiledCondition)(object)) return true;
    return false;
  };
}

/** GrowthBook walks `$and`/`$or` lists by their `length`, so a non-list behaves like an empty one. */
function listOf(value: unknown): unknown[] {
  const length = (value as { length?: unknown }).length;
  if (typeof length !== "number" || length <= 0) return [];
  return Array.from({ length }, (_, index) => (value as Record<number, unknown>)[index]);
}

function compileObject(condition: object, scope: Scope, visited: ReadonlySet<string>): CompiledCondition {
  const tests: CompiledCondition[] = [];
  for (const [key, value] of Object.entries(condition)) {
    switch (key) {
      case "$or":
        tests.push(anyOf(listOf(value).map((part) => compileObject(part as object, scope, visited))));
        break;
      case "$nor": {
        const any = anyOf(listOf(value).map((part) => compileObject(part as object, scope, visited)));
        tests.push((object) => !any(object));
        break;
      }
      case "$and":
        tests.push(allOf(listOf(value).map((part) => compileObject(part as object, scope, visited))));
        break;
      case "$not": {
        const inner = compileObject(value as object, scope, visited);
        tests.push((object) => !inner(object));
        break;
      }
      case "$savedGroup":
        tests.push(compileSavedGroup(value, scope, visited));
        break;
      default: {
        const read = compilePath(key);
        const test = compileValue(value, false, scope, visited);
        tests.push((object) => test(read(object)));
      }
    }
  }
  return allOf(tests);
}

function isOperatorObject(value: object): boolean {
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((key) => key[0] === "$");
}

function compileValue(expected: unknown, insensitive: boolean, scope: Scope, visited: ReadonlySet<string>): ValueTest {
  if (typeof expected === "string") {
    if (insensitive) {
      const lower = expected.toLowerCase();
      return (value) => String(value).toLowerCase() === lower;
    }
    // `value + ""` rather than String(value): GrowthBook's coercion, kept for identical answers.
    // biome-ignore lint/style/useTemplate: the coercion is the point
    return (value) => (value as string) + "" === expected;
  }
  if (typeof expected === "number") return (value) => (value as number) * 1 === expected;
  if (typeof expected === "boolean") return (value) => value !== null && !!value === expected;
  if (expected === null) return (value) => value === null;
  if (Array.isArray(expected) || !isOperatorObject(expected as object)) {
    const serialised = JSON.stringify(expected);
    return (value) => JSON.stringify(value) === serialised;
  }
  const tests: ValueTest[] = [];
  for (const operator in expected as object) {
    tests.push(compileOperator(operator, (expected as Record<string, unknown>)[operator], scope, visited));
  }
  return allOf(tests);
}

/** Mirrors GrowthBook's version padding so `$vgt` and friends compare the same way. */
function paddedVersionString(input: unknown): string {
  const text = typeof input === "number" ? `${input}` : typeof input === "string" && input !== "" ? input : "0";
  const parts = text.replace(/(^v|\+.*$)/g, "").split(/[-.]/);
  if (parts.length === 3) parts.push("~");
  return parts.map((part) => (/^[0-9]+$/.test(part) ? part.padStart(5, " ") : part)).join("-");
}

/** Attribute versions repeat (app versions, browser versions): pad each distinct one once. */
const paddedVersions = new Map<unknown, string>();

function paddedVersion(value: unknown): string {
  let padded = paddedVersions.get(value);
  if (padded === undefined) {
    padded = paddedVersionString(value);
    if (paddedVersions.size >= 1_000) paddedVersions.clear();
    if (typeof value === "string" || typeof value === "number") paddedVersions.set(value, padded);
  }
  return padded;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  const type = typeof value;
  return type === "string" || type === "number" || type === "boolean" || type === "object" || type === "undefined" ? type : "unknown";
}

function foldCase(value: unknown): unknown {
  return typeof value === "string" ? value.toLowerCase() : value;
}

/** `$in`: membership, or intersection when the attribute is an array. Sets compare like `includes`. */
function membership(list: readonly unknown[], insensitive: boolean): ValueTest {
  if (!insensitive) {
    const members = new Set(list);
    return (value) => (Array.isArray(value) ? value.some((element) => members.has(element)) : members.has(value));
  }
  // The case-insensitive form compares with `===`, under which NaN equals nothing.
  const members = new Set(list.map(foldCase).filter((member) => !Number.isNaN(member)));
  const has = (element: unknown) => !Number.isNaN(element) && members.has(foldCase(element));
  return (value) => (Array.isArray(value) ? value.some(has) : has(value));
}

/**
 * A `$regex` the factory refuses (regex-safety.ts: invalid, or one that could backtrack
 * catastrophically) matches nothing, as an invalid one does in GrowthBook; validation refuses such
 * documents before they get here. Values are cut to
 * `MAX_REGEX_INPUT` characters so even an accepted pattern's work per value stays bounded.
 */
function compileRegex(pattern: unknown, flags: "" | "i", build: RegexFactory): ValueTest {
  // A non-string pattern is a broken document, not a visitor's problem: refuse it at compile time.
  if (typeof pattern !== "string") throw new TypeError(`${flags === "i" ? "$regexi" : "$regex"} needs a string pattern`);
  const regex = build(pattern, flags);
  if (regex === null) return NEVER;
  return (value) => {
    try {
      // Template coercion, like RegExp#test's own: a symbol throws and matches nothing.
      const text = `${value as string}`;
      return regex.test(text.length > MAX_REGEX_INPUT ? text.slice(0, MAX_REGEX_INPUT) : text);
    } catch {
      return false;
    }
  };
}

function groupValues(groups: SavedGroups, id: unknown): readonly unknown[] | null {
  const entry = (groups as Record<string, unknown>)[id as string];
  if (entry === undefined) return [];
  if (Array.isArray(entry)) return entry;
  if (entry && typeof entry === "object" && (entry as { type?: unknown }).type === "list") {
    const values = (entry as { values?: unknown }).values;
    return Array.isArray(values) ? values : null;
  }
  return null;
}

function compileOperator(operator: string, expected: unknown, scope: Scope, visited: ReadonlySet<string>): ValueTest {
  switch (operator) {
    case "$veq":
    case "$vne":
    case "$vgt":
    case "$vgte":
    case "$vlt":
    case "$vlte": {
      const target = paddedVersionString(expected);
      if (operator === "$veq") return (value) => paddedVersion(value) === target;
      if (operator === "$vne") return (value) => paddedVersion(value) !== target;
      if (operator === "$vgt") return (value) => paddedVersion(value) > target;
      if (operator === "$vgte") return (value) => paddedVersion(value) >= target;
      if (operator === "$vlt") return (value) => paddedVersion(value) < target;
      return (value) => paddedVersion(value) <= target;
    }
    case "$eq":
      return (value) => value === expected;
    case "$ne":
      return (value) => value !== expected;
    // Relational operators coerce exactly as JavaScript (and GrowthBook) does: null < 1 is true.
    case "$lt":
      return (value) => (value as number) < (expected as number);
    case "$lte":
      return (value) => (value as number) <= (expected as number);
    case "$gt":
      return (value) => (value as number) > (expected as number);
    case "$gte":
      return (value) => (value as number) >= (expected as number);
    case "$exists":
      return expected ? (value) => value !== null && value !== undefined : (value) => value === null || value === undefined;
    case "$in":
    case "$ini":
      return Array.isArray(expected) ? membership(expected, operator === "$ini") : NEVER;
    case "$nin":
    case "$nini": {
      if (!Array.isArray(expected)) return NEVER;
      const member = membership(expected, operator === "$nini");
      return (value) => !member(value);
    }
    case "$inGroup":
    case "$notInGroup": {
      const values = groupValues(scope.groups, expected);
      if (values === null) return NEVER;
      const member = membership(values, false);
      return operator === "$inGroup" ? member : (value) => !member(value);
    }
    case "$not": {
      const inner = compileValue(expected, false, scope, visited);
      return (value) => !inner(value);
    }
    case "$size": {
      const inner = compileValue(expected, false, scope, visited);
      return (value) => Array.isArray(value) && inner(value.length);
    }
    case "$elemMatch": {
      const check =
        expected !== null && typeof expected === "object" && isOperatorObject(expected)
          ? compileValue(expected, false, scope, visited)
          : compileObject(expected as object, scope, visited);
      return (value) => Array.isArray(value) && value.some((element) => element !== null && element !== undefined && check(element));
    }
    case "$all":
    case "$alli": {
      if (!Array.isArray(expected)) return NEVER;
      const each = expected.map((item) => compileValue(item, operator === "$alli", scope, visited));
      return (value) => Array.isArray(value) && each.every((test) => value.some(test));
    }
    case "$regex":
      return compileRegex(expected, "", scope.regex);
    case "$regexi":
      return compileRegex(expected, "i", scope.regex);
    case "$type":
      return (value) => typeOf(value) === expected;
    default:
      return NEVER;
  }
}

function compileSavedGroup(reference: unknown, scope: Scope, visited: ReadonlySet<string>): CompiledCondition {
  const never: CompiledCondition = () => false;
  if (!reference || typeof reference !== "object" || Array.isArray(reference)) return never;
  const { id, attributeKey } = reference as { id?: unknown; attributeKey?: unknown };
  if (typeof id !== "string" || visited.has(id)) return never;
  if (attributeKey !== undefined && typeof attributeKey !== "string") return never;
  const entry = (scope.groups as Record<string, unknown>)[id];
  if (!entry || Array.isArray(entry) || typeof entry !== "object") return never;
  const group = entry as { type?: unknown; attributeKey?: unknown; values?: unknown; condition?: unknown };
  if (group.type === "list") {
    const key = attributeKey ?? group.attributeKey;
    if (typeof key !== "string" || !Array.isArray(group.values)) return never;
    const read = compilePath(key);
    const member = membership(group.values, false);
    return (object) => member(read(object));
  }
  if (group.type === "condition") {
    if (!group.condition || typeof group.condition !== "object") return never;
    return compileObject(group.condition, scope, new Set(visited).add(id));
  }
  return never;
}

/**
 * The attribute paths a condition reads (not counting paths inside `$elemMatch`, which are relative
 * to array elements). The decision step uses this to ask the visitor's Durable Object for only the
 * profile attributes the live rules need.
 */
export function conditionPaths(condition: Condition, savedGroups: SavedGroups = {}): string[] {
  const paths = new Set<string>();
  const visit = (node: unknown, visited: ReadonlySet<string>): void => {
    if (node === null || typeof node !== "object") return;
    for (const [key, value] of Object.entries(node)) {
      if (key === "$or" || key === "$nor" || key === "$and") {
        for (const part of listOf(value)) visit(part, visited);
      } else if (key === "$not") {
        visit(value, visited);
      } else if (key === "$savedGroup") {
        const { id, attributeKey } = (value ?? {}) as { id?: unknown; attributeKey?: unknown };
        if (typeof id !== "string" || visited.has(id)) continue;
        const group = (savedGroups as Record<string, { type?: unknown; attributeKey?: unknown; condition?: unknown }>)[id];
        if (!Object.hasOwn(savedGroups, id) || group === undefined) continue;
        const key = attributeKey ?? group.attributeKey;
        if (group.type === "list" && typeof key === "string") paths.add(key);
        if (group.type === "condition") visit(group.condition, new Set(visited).add(id));
      } else if (!key.startsWith("$")) {
        paths.add(key);
      }
    }
  };
  visit(condition, new Set());
  return [...paths];
}
