/**
 * `$regex`/`$regexi` patterns that could backtrack catastrophically are refused with the reason,
 * ordinary marketer patterns are not, and a regex never sees more than the first 1,024 characters
 * of a value. GrowthBook (the oracle) runs any pattern on any value, so these are the cases where
 * Tailor deliberately differs.
 */
import { evalCondition as growthbook } from "@growthbook/growthbook";
import { describe, expect, it } from "vitest";
import { compileCondition } from "../../../shared/rules/condition.ts";
import { checkRegex, conditionRegexProblems, MAX_PATTERN_LENGTH, MAX_REGEX_INPUT } from "../../../shared/rules/regex-safety.ts";
import { EVERYDAY_PATTERNS } from "../../support/everyday-patterns.ts";

/** Catastrophic patterns, each with the kind of reason it must be refused for. */
const CATASTROPHIC: [pattern: string, reason: RegExp][] = [
  ["^((a+))+$", /nested quantifiers/],
  ["^(?:a|a?)+$", /can match empty text/],
  ["^(a|aa)+$", /branches `a` and `aa` can start with the same character/],
  ["^(\\w|\\d)+$", /branches `\\w` and `\\d`/],
  ["^(a?){30}a{30}$", /can match empty text/],
  ["(.*a){12}", /nested quantifiers/],
  ["^(a+)+b", /nested quantifiers/],
  ["(x+x+)+y", /nested quantifiers/],
  ["^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$", /nested quantifiers/],
  ["(a|\\1)+", /backreference `\\1`/],
  ["^(?=(a+))\\1*$", /backreference/],
  ["(?<word>a+)\\k<word>+", /backreference `\\k<word>`/],
  ["^([\\s\\S]|a)+$", /can start with the same character/],
  ["^(\\d|[0-9])+$", /can start with the same character/],
  ["(a{1,30}){1,30}", /nested quantifiers/],
  ["^(\\w+\\s?)*$", /nested quantifiers/],
  ["(?:[a-z]+\\.?)+@", /nested quantifiers/],
  ["(a*)*b", /can match empty text/],
  ["((ab)*)+c", /can match empty text/],
  ["(b|a+)+c", /nested quantifiers/],
  ["a.*b.*c", /cube of the value's length/],
  [".*a.*b", /cube of the value's length/],
  ["\\d+\\d+\\d+x", /cube of the value's length/],
  ["^\\s*\\s*\\s*x", /cube of the value's length/],
  ["a{2000}", /more than 1024 times/],
];

describe("patterns that could backtrack catastrophically", () => {
  it.each(CATASTROPHIC)("refuses %s, saying why", (pattern, reason) => {
    const checked = checkRegex(pattern, "");
    expect(checked.ok).toBe(false);
    if (!checked.ok) expect(checked.error).toMatch(reason);
  });

  it.each(CATASTROPHIC)("compiles %s to a condition that never matches, like an invalid pattern", (pattern) => {
    // Short values, several of which the pattern itself would match: the pattern is never run.
    for (const value of ["a", "aa", "aab", "xxy", "abc", "0", "a@b.de"]) {
      expect(compileCondition({ value: { $regex: pattern } })({ value })).toBe(false);
      expect(compileCondition({ value: { $not: { $regex: pattern } } })({ value })).toBe(true);
    }
  });

  it("folds case under $regexi: branches that differ only in case overlap", () => {
    expect(checkRegex("(A|a)+", "").ok).toBe(true);
    const folded = checkRegex("(A|a)+", "i");
    expect(folded.ok).toBe(false);
    if (!folded.ok) expect(folded.error).toMatch(/can start with the same character/);
  });

  it("reports each refused pattern with its path inside the condition, at any depth", () => {
    const problems = conditionRegexProblems({
      "utm.campaign": { $regex: "^(a+)+$" },
      $or: [{ "page.path": { $regex: "^/c/electronics" } }, { "page.path": { $regexi: "(x+x+)+y" } }],
      items: { $elemMatch: { sku: { $not: { $regex: "(a|\\1)+" } } } },
    });
    expect(problems.map((problem) => problem.path)).toEqual([
      ["utm.campaign", "$regex"],
      ["$or", 1, "page.path", "$regexi"],
      ["items", "$elemMatch", "sku", "$not", "$regex"],
    ]);
  });
});

describe("ordinary patterns", () => {
  it.each(EVERYDAY_PATTERNS)("accepts %s and matches exactly as GrowthBook does", (pattern) => {
    expect(checkRegex(pattern, "").ok).toBe(true);
    expect(checkRegex(pattern, "i").ok).toBe(true);
    const values = [
      "/c/electronics/tv",
      "de",
      "file.pdf",
      "de-AT",
      "summer-sale",
      "utm_source",
      "12345",
      "foo and bar",
      "https://www.example.com/x",
      null,
      12345,
      "a/b",
      "x",
    ];
    for (const value of values) {
      for (const operator of ["$regex", "$regexi"]) {
        const condition = { value: { [operator]: pattern } };
        expect(compileCondition(condition)({ value }), `${operator} ${pattern} on ${String(value)}`).toBe(growthbook({ value }, condition));
      }
    }
  });
});

describe("invalid and oversized patterns", () => {
  it.each(["(", "[a-", "a**", "(?<name", "\\", "x{2,1}", "(?<n>a)(?<n>b)"])("refuses %s with the parser's message", (pattern) => {
    const checked = checkRegex(pattern, "");
    expect(checked.ok).toBe(false);
    if (!checked.ok) expect(checked.error).toMatch(/^the regular expression is invalid: Invalid regular expression: .+/);
  });

  it(`refuses patterns longer than ${MAX_PATTERN_LENGTH} characters`, () => {
    expect(checkRegex("a".repeat(MAX_PATTERN_LENGTH), "").ok).toBe(true);
    const long = checkRegex("a".repeat(MAX_PATTERN_LENGTH + 1), "");
    expect(long.ok).toBe(false);
    if (!long.ok) expect(long.error).toMatch(/257 characters long; at most 256/);
  });
});

describe("values are capped", () => {
  const padding = (length: number) => "a".repeat(length);

  it.each([
    ["a 100 KB utm_source", "utm.source", 100_000],
    ["a 2,048-character trait (the most an event may carry)", "traits.note", 2_048 - 3],
    ["a value one past the cap", "page.path", MAX_REGEX_INPUT - 2],
  ])(`caps %s: the regex sees only the first ${MAX_REGEX_INPUT} characters`, (_label, path, length) => {
    const hidden = `${padding(length)}vip`;
    const visible = `${padding(MAX_REGEX_INPUT - 3)}vip`;
    const [group = "", name = ""] = path.split(".");
    const attributes = (value: string) => ({ [group]: { [name]: value } });
    const condition = compileCondition({ [path]: { $regex: "vip" } });
    expect(condition(attributes(visible))).toBe(true);
    expect(condition(attributes(hidden))).toBe(false);
    // Prefixes still match on long values; a `$` anchor sees the cut.
    expect(compileCondition({ [path]: { $regex: "^a{10}" } })(attributes(hidden))).toBe(true);
    expect(compileCondition({ [path]: { $regex: "vip$" } })(attributes(hidden))).toBe(false);
  });

  it("caps what a regex sees whatever the value's type, coercing like GrowthBook", () => {
    const condition = compileCondition({ list: { $regex: "z" } });
    expect(condition({ list: [padding(MAX_REGEX_INPUT), "z"] })).toBe(false);
    expect(condition({ list: ["a", "z"] })).toBe(true);
    expect(condition({ list: null })).toBe(false);
  });
});
