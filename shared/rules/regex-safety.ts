/**
 * Refuses `$regex`/`$regexi` patterns that could backtrack super-linearly, before any of them runs
 * on a visitor's value. JavaScript's regex engine backtracks: a pattern such as `(a+)+b` takes time
 * exponential in the length of a hostile value, and one such rule would stall every page it is
 * evaluated on. The pattern is parsed by `@eslint-community/regexpp` (a real ECMAScript regex
 * parser) and the rules below run on its syntax tree, never on the pattern's text. The analysis is
 * deliberately conservative: a pattern it cannot show to be safe is refused, with the reason.
 *
 * Rules (docs/decisions/0010-regex-safety.md says why each one):
 * - backreferences are refused outright;
 * - a repeated part (`*`, `+`, `{n,m}` with m > 1) must not be able to match empty text;
 * - an alternation inside a repeated part must not have two branches that can start with the same
 *   character;
 * - a variable-length quantifier inside a repeated part must not be able to eat the characters that
 *   can follow it (within the part, or the start of the part's next round);
 * - at most two long repetitions that can take the same characters may follow one another,
 *   counting the engine's search for a start position when the pattern is not anchored with `^`
 *   (three make the time grow with the cube of the value's length);
 * - patterns are at most {@link MAX_PATTERN_LENGTH} characters and repeat counts at most
 *   {@link MAX_REPEAT_COUNT}.
 *
 * Values are capped too: a regex only ever sees the first {@link MAX_REGEX_INPUT} characters.
 * @module
 */
import type { AST } from "@eslint-community/regexpp";
import { RegExpParser } from "@eslint-community/regexpp";
import { err, ok, type Result } from "../result.ts";
import { MAX_REGEX_INPUT, regexSource } from "./condition-compiler.ts";

/** Longest `$regex`/`$regexi` pattern accepted, in characters. */
export const MAX_PATTERN_LENGTH = 256;

/**
 * How much of a value a regular expression sees: longer values are cut to their first 1,024
 * characters before matching (so `^…` prefixes still work on long URLs; a `…$` suffix test sees
 * the cut, not the real end). Defined beside the condition compiler, which cuts them.
 */
export { MAX_REGEX_INPUT };

/** Largest repeat count (`{n}`, `{n,m}`) accepted: no value a regex sees is longer. */
const MAX_REPEAT_COUNT = MAX_REGEX_INPUT;

/** Variable-length repetitions with at most this much slack (`{2,3}`) multiply the work by a small constant only. */
const SHORT_SLACK = 10;

/** A set of UTF-16 code units as sorted, disjoint, inclusive ranges. */
type CharSet = readonly (readonly [number, number])[];

const MAX_UNIT = 0xffff;
const EMPTY: CharSet = [];
const ALL: CharSet = [[0, MAX_UNIT]];

function union(...sets: CharSet[]): CharSet {
  const ranges = sets.flat().sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [low, high] of ranges) {
    const last = merged.at(-1);
    if (last !== undefined && low <= last[1] + 1) last[1] = Math.max(last[1], high);
    else merged.push([low, high]);
  }
  return merged;
}

function complement(set: CharSet): CharSet {
  const result: [number, number][] = [];
  let next = 0;
  for (const [low, high] of union(set)) {
    if (low > next) result.push([next, low - 1]);
    next = high + 1;
  }
  if (next <= MAX_UNIT) result.push([next, MAX_UNIT]);
  return result;
}

function overlaps(a: CharSet, b: CharSet): boolean {
  return a.some(([low, high]) => b.some(([otherLow, otherHigh]) => low <= otherHigh && otherLow <= high));
}

const DIGIT: CharSet = [[0x30, 0x39]];
const WORD: CharSet = union(DIGIT, [[0x41, 0x5a]], [[0x5f, 0x5f]], [[0x61, 0x7a]]);
const SPACE: CharSet = union(
  [[0x09, 0x0d]],
  [[0x20, 0x20]],
  [[0xa0, 0xa0]],
  [[0x1680, 0x1680]],
  [[0x2000, 0x200a]],
  [[0x2028, 0x2029]],
  [[0x202f, 0x202f]],
  [[0x205f, 0x205f]],
  [[0x3000, 0x3000]],
  [[0xfeff, 0xfeff]],
);
const LINE_TERMINATORS: CharSet = union([[0x0a, 0x0a]], [[0x0d, 0x0d]], [[0x2028, 0x2029]]);

/**
 * Under `i`, a set also holds the other case of its letters. ASCII is folded exactly; any other
 * letter-bearing range is widened to everything above ASCII, which can only make the check stricter.
 */
function foldCase(set: CharSet): CharSet {
  const extra: [number, number][] = [];
  for (const [low, high] of set) {
    const upperLow = Math.max(low, 0x41);
    const upperHigh = Math.min(high, 0x5a);
    if (upperLow <= upperHigh) extra.push([upperLow + 0x20, upperHigh + 0x20]);
    const lowerLow = Math.max(low, 0x61);
    const lowerHigh = Math.min(high, 0x7a);
    if (lowerLow <= lowerHigh) extra.push([lowerLow - 0x20, lowerHigh - 0x20]);
    if (high > 0x7f) extra.push([0x80, MAX_UNIT]);
    // K and S have non-ASCII case partners (Kelvin sign, long s).
    if (overlaps([[low, high]], [[0x4b, 0x4b]]) || overlaps([[low, high]], [[0x6b, 0x6b]])) extra.push([0x212a, 0x212a]);
    if (overlaps([[low, high]], [[0x53, 0x53]]) || overlaps([[low, high]], [[0x73, 0x73]])) extra.push([0x17f, 0x17f]);
  }
  return union(set, extra);
}

type Quantifier = AST.Quantifier;
type Node = AST.Node;

/** What one analysis needs besides the tree: whether the pattern is case-insensitive. */
interface Analysis {
  ignoreCase: boolean;
}

function classElementChars(element: AST.CharacterClassElement): CharSet {
  switch (element.type) {
    case "Character":
      return [[element.value, element.value]];
    case "CharacterClassRange":
      return [[element.min.value, element.max.value]];
    case "CharacterSet":
      return characterSetChars(element);
    default:
      // Only `v`-mode elements remain, which our flags never enable: assume anything.
      return ALL;
  }
}

function characterSetChars(set: AST.CharacterSet): CharSet {
  if (set.kind === "any") return complement(LINE_TERMINATORS);
  if (set.kind === "property") return ALL;
  const base = set.kind === "digit" ? DIGIT : set.kind === "word" ? WORD : SPACE;
  return set.negate ? complement(base) : base;
}

/** Every character `node` can consume, anywhere in a match. */
function charsOf(node: Node, analysis: Analysis): CharSet {
  switch (node.type) {
    case "Character":
      return analysis.ignoreCase ? foldCase([[node.value, node.value]]) : [[node.value, node.value]];
    case "CharacterSet":
      return analysis.ignoreCase ? foldCase(characterSetChars(node)) : characterSetChars(node);
    case "CharacterClass": {
      const inside = union(...node.elements.map(classElementChars));
      const folded = analysis.ignoreCase ? foldCase(inside) : inside;
      return node.negate ? complement(folded) : folded;
    }
    case "Quantifier":
      return charsOf(node.element, analysis);
    case "Alternative":
      return union(...node.elements.map((element) => charsOf(element, analysis)));
    case "Group":
    case "CapturingGroup":
    case "Pattern":
      return union(...node.alternatives.map((alternative) => charsOf(alternative, analysis)));
    case "Backreference":
      return ALL;
    default:
      // Assertions consume nothing.
      return EMPTY;
  }
}

/** Whether `node` can match without consuming a character. */
function nullable(node: Node): boolean {
  switch (node.type) {
    case "Quantifier":
      return node.min === 0 || nullable(node.element);
    case "Alternative":
      return node.elements.every(nullable);
    case "Group":
    case "CapturingGroup":
    case "Pattern":
      return node.alternatives.some(nullable);
    case "Assertion":
    case "Backreference":
      return true;
    default:
      return false;
  }
}

/** The characters a match of `node` can start with. */
function firstOf(node: Node, analysis: Analysis): CharSet {
  switch (node.type) {
    case "Quantifier":
      return node.max === 0 ? EMPTY : firstOf(node.element, analysis);
    case "Alternative": {
      const parts: CharSet[] = [];
      for (const element of node.elements) {
        parts.push(firstOf(element, analysis));
        if (!nullable(element)) break;
      }
      return union(...parts);
    }
    case "Group":
    case "CapturingGroup":
    case "Pattern":
      return union(...node.alternatives.map((alternative) => firstOf(alternative, analysis)));
    case "Backreference":
      return ALL;
    case "Assertion":
      return EMPTY;
    default:
      return charsOf(node, analysis);
  }
}

function childrenOf(node: Node): Node[] {
  switch (node.type) {
    case "Pattern":
    case "Group":
    case "CapturingGroup":
      return node.alternatives;
    case "Assertion":
      return node.kind === "lookahead" || node.kind === "lookbehind" ? node.alternatives : [];
    case "Alternative":
      return node.elements;
    case "Quantifier":
      return [node.element];
    default:
      return [];
  }
}

function descendants(node: Node): Node[] {
  const found: Node[] = [];
  const visit = (current: Node): void => {
    for (const child of childrenOf(current)) {
      found.push(child);
      visit(child);
    }
  };
  visit(node);
  return found;
}

/**
 * The characters that can come right after one round of `inner` ends, inside one round of
 * `outer`; when the rest of `outer`'s part can match nothing, that includes the start of
 * `outer`'s next round.
 */
function followWithin(inner: Quantifier, outer: Quantifier, analysis: Analysis): CharSet {
  const parts: CharSet[] = [];
  let current: Node = inner;
  for (;;) {
    const parent = parentOf(current);
    if (parent === null) return union(...parts);
    if (parent === outer) return union(...parts, firstOf(outer.element, analysis));
    if (parent.type === "Alternative") {
      const after = parent.elements.slice(parent.elements.indexOf(current as AST.Element) + 1);
      let blocked = false;
      for (const element of after) {
        parts.push(firstOf(element, analysis));
        if (!nullable(element)) {
          blocked = true;
          break;
        }
      }
      if (blocked) return union(...parts);
    } else if (parent.type === "Quantifier" && parent.max > 1) {
      parts.push(firstOf(parent.element, analysis));
    } else if (parent.type === "Assertion") {
      // The end of a lookaround is not followed by anything it consumes: assume anything.
      return ALL;
    }
    current = parent;
  }
}

/** Whether something after `quantifier` can still fail, so the engine backtracks into it. */
function canFailAfter(quantifier: Quantifier): boolean {
  let current: Node = quantifier;
  for (;;) {
    const parent = parentOf(current);
    if (parent === null || parent.type === "Pattern") return false;
    if (parent.type === "Assertion") return true;
    if (parent.type === "Alternative") {
      const after = parent.elements.slice(parent.elements.indexOf(current as AST.Element) + 1);
      if (after.some((element) => element.type === "Assertion" || !nullable(element))) return true;
    }
    current = parent;
  }
}

/** A node's parent, typed as any node (regexpp's per-type parent unions defeat narrowing in walks up the tree). */
function parentOf(node: Node): Node | null {
  return node.parent;
}

function describe(node: Node): string {
  return `\`${node.raw}\``;
}

function isLong(quantifier: Quantifier): boolean {
  return quantifier.max - quantifier.min > SHORT_SLACK;
}

/** Why a repeated part (`*`, `+`, `{n,m}` with m > 1) can split the same text in many ways, or null. */
function repeatProblem(outer: Quantifier, analysis: Analysis): string | null {
  if (nullable(outer.element))
    return `${describe(outer)} repeats a part that can match empty text, which makes the number of ways to match explode`;
  const inside = descendants(outer.element);
  for (const node of [outer.element, ...inside]) {
    if ((node.type === "Group" || node.type === "CapturingGroup") && node.alternatives.length > 1) {
      const firsts = node.alternatives.map((alternative) => firstOf(alternative, analysis));
      for (let one = 0; one < firsts.length; one++) {
        for (let other = one + 1; other < firsts.length; other++) {
          const a = node.alternatives[one];
          const b = node.alternatives[other];
          if (a === undefined || b === undefined) continue;
          if (overlaps(firsts[one] ?? EMPTY, firsts[other] ?? EMPTY) || nullable(a) || nullable(b))
            return `${describe(outer)} repeats an alternation whose branches ${describe(a)} and ${describe(b)} can start with the same character, so the same text can be split between them in exponentially many ways`;
        }
      }
    }
  }
  for (const node of inside) {
    if (node.type !== "Quantifier" || node.min === node.max) continue;
    if (overlaps(charsOf(node.element, analysis), followWithin(node, outer, analysis)))
      return `${describe(outer)} repeats ${describe(node)}, and what ${describe(node)} matches can also be matched by what follows it, so the same text can be split in exponentially many ways (nested quantifiers)`;
  }
  return null;
}

function insideLookaround(node: Node): boolean {
  for (let current = parentOf(node); current !== null; current = parentOf(current)) if (current.type === "Assertion") return true;
  return false;
}

/** Whether a match can skip `node` (it sits under an optional quantifier or in one branch of an alternation). */
function skippable(node: Node): boolean {
  for (let current = parentOf(node); current !== null; current = parentOf(current)) {
    if (current.type === "Quantifier" && current.min === 0) return true;
    if ((current.type === "Group" || current.type === "CapturingGroup" || current.type === "Pattern") && current.alternatives.length > 1)
      return current.type !== "Pattern";
  }
  return false;
}

/**
 * Why long repetitions that can take the same characters follow one another too many times, or
 * null. Each one multiplies the work by the value's length; so does the search for a start
 * position when the pattern is not anchored and the first repetition can start where it could.
 * A required character between two repetitions that the first cannot take ends the chain: the
 * first cannot run into the second's territory.
 */
function sequenceProblem(pattern: AST.Pattern, analysis: Analysis): string | null {
  for (const alternative of pattern.alternatives) {
    const nodes = descendants(alternative).filter((node) => !insideLookaround(node));
    const isLongQuantifier = (node: Node): node is Quantifier => node.type === "Quantifier" && isLong(node);
    // A repetition that holds another is represented by the ones inside it.
    const long = nodes.filter(
      (node): node is Quantifier => isLongQuantifier(node) && canFailAfter(node) && !descendants(node).some(isLongQuantifier),
    );
    const leaves = nodes.filter((node) => node.type === "Character" || node.type === "CharacterSet" || node.type === "CharacterClass");
    const anchored = alternative.elements[0]?.type === "Assertion" && alternative.elements[0].kind === "start";
    const start = firstOf(alternative, analysis);
    let run: Quantifier[] = [];
    for (const quantifier of long) {
      const previous = run.at(-1);
      const continues =
        previous !== undefined &&
        overlaps(charsOf(previous.element, analysis), charsOf(quantifier.element, analysis)) &&
        !leaves.some(
          (leaf) =>
            leaf.start >= previous.end &&
            leaf.end <= quantifier.start &&
            !skippable(leaf) &&
            !overlaps(charsOf(previous.element, analysis), charsOf(leaf, analysis)),
        );
      run = continues ? [...run, quantifier] : [quantifier];
      const [first] = run;
      const scanning = !anchored && first !== undefined && overlaps(start, charsOf(first.element, analysis)) ? 1 : 0;
      if (run.length + scanning >= 3)
        return `${run.map(describe).join(", ")} can take the same characters one after another${scanning ? " (and the pattern does not start with ^)" : ""}, so matching time grows with the cube of the value's length or worse; anchor it with ^, or use classes that exclude what comes next (e.g. [^/]* instead of .*)`;
    }
  }
  return null;
}

const parser = new RegExpParser({ ecmaVersion: 2025 });

/**
 * Checks a `$regex`/`$regexi` pattern and returns the expression the condition compiler will run,
 * or the reason it is refused: a syntax error with the parser's message, a pattern that is too
 * long, or one that could backtrack super-linearly.
 */
export function checkRegex(pattern: string, flags: "" | "i"): Result<RegExp, string> {
  if (pattern.length > MAX_PATTERN_LENGTH)
    return err(`the regular expression is ${pattern.length} characters long; at most ${MAX_PATTERN_LENGTH} are allowed`);
  const source = regexSource(pattern);
  let tree: AST.Pattern;
  try {
    tree = parser.parsePattern(source, 0, source.length, { unicode: false });
  } catch (error) {
    return err(`the regular expression is invalid: ${(error as Error).message}`);
  }
  let regex: RegExp;
  try {
    regex = new RegExp(source, flags);
  } catch (error) {
    return err(`the regular expression is invalid: ${(error as Error).message}`);
  }
  const analysis: Analysis = { ignoreCase: flags === "i" };
  const nodes = descendants(tree);
  const backreference = nodes.find((node) => node.type === "Backreference");
  if (backreference !== undefined)
    return err(`the regular expression uses the backreference ${describe(backreference)}; backreferences can take exponential time`);
  for (const node of nodes) {
    if (node.type === "Quantifier") {
      if (Math.max(node.min, Number.isFinite(node.max) ? node.max : 0) > MAX_REPEAT_COUNT)
        return err(`the regular expression repeats ${describe(node)} more than ${MAX_REPEAT_COUNT} times`);
      if (node.max > 1) {
        const problem = repeatProblem(node, analysis);
        if (problem !== null) return err(`the regular expression could backtrack catastrophically: ${problem}`);
      }
    }
  }
  const problem = sequenceProblem(tree, analysis);
  if (problem !== null) return err(`the regular expression could backtrack catastrophically: ${problem}`);
  return ok(regex);
}

/** A refused `$regex`/`$regexi` inside a condition: where it is (a path from the condition) and why. */
export interface RegexProblem {
  path: (string | number)[];
  message: string;
}

/** Checks every `$regex`/`$regexi` pattern in a condition, at any depth. */
export function conditionRegexProblems(condition: unknown): RegexProblem[] {
  const problems: RegexProblem[] = [];
  const visit = (node: unknown, path: (string | number)[]): void => {
    if (node === null || typeof node !== "object") return;
    for (const [key, value] of Object.entries(node)) {
      const here = [...path, Array.isArray(node) ? Number(key) : key];
      if ((key === "$regex" || key === "$regexi") && typeof value === "string") {
        const checked = checkRegex(value, key === "$regexi" ? "i" : "");
        if (!checked.ok) problems.push({ path: here, message: checked.error });
      } else {
        visit(value, here);
      }
    }
  };
  visit(condition, []);
  return problems;
}
