/**
 * The one place the Worker's code gets zod from: the functional build (`zod/mini`), whose schemas
 * carry no methods, so the bundle holds only the checks the schemas use, and no locale. Without a
 * locale zod says "Invalid input" for every issue, so this module sets the English messages API
 * clients and marketers read wherever a schema gives none of its own (a schema's own message, as
 * in `z.regex(pattern, "…")`, always wins). Every module that defines a schema imports zod from
 * here (`import * as z from "…/shared/zod.ts"`), so the messages are set before anything is parsed, in the Worker, the tests and the
 * Node scripts alike. docs/decisions/0012-bundle-budget.md says why.
 * @module
 */
import * as z from "zod/mini";

// Re-exported name by name (`export *`), not as one namespace object: a namespace object would hold
// every export, the locales included, and esbuild could drop none of them.
export * from "zod/mini";

type Issue = z.core.$ZodRawIssue;

/** What a length limit counts, by the kind of value it applies to. */
const UNITS: Readonly<Record<string, string>> = { string: "characters", array: "items", set: "items", map: "entries", file: "bytes" };

/** Formats named in words; the rest are named by zod's format name. */
const FORMATS: Readonly<Record<string, string>> = {
  datetime: "an ISO 8601 date and time (such as 2026-04-20T12:00:00Z)",
  date: "an ISO 8601 date",
  uuid: "a UUID",
  url: "a URL",
  email: "an email address",
};

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return typeof value;
}

function show(value: unknown): string {
  return typeof value === "bigint" ? `${value}` : (JSON.stringify(value) ?? String(value));
}

function limit(issue: Extract<Issue, { code: "too_big" | "too_small" }>): string {
  const big = issue.code === "too_big";
  const bound = big ? issue.maximum : issue.minimum;
  const unit = UNITS[issue.origin];
  if (unit !== undefined) {
    const size = issue.exact ? "exactly" : big ? (issue.inclusive ? "at most" : "fewer than") : issue.inclusive ? "at least" : "more than";
    return `expected ${size} ${bound} ${unit}`;
  }
  const size = issue.exact ? "exactly" : big ? (issue.inclusive ? "at most" : "less than") : issue.inclusive ? "at least" : "greater than";
  return `expected a ${issue.origin === "int" ? "whole number" : "number"} ${size} ${bound}`;
}

/** The message for an issue that its schema gave none for. */
function describeIssue(issue: Issue): string {
  switch (issue.code) {
    case "invalid_type":
      return issue.input === undefined && issue.expected !== "undefined"
        ? `required (expected ${issue.expected})`
        : `expected ${issue.expected === "int" ? "a whole number" : issue.expected}, received ${kindOf(issue.input)}`;
    case "invalid_value":
      return issue.values.length === 1 ? `expected ${show(issue.values[0])}` : `expected one of ${issue.values.map(show).join(", ")}`;
    case "too_big":
    case "too_small":
      return limit(issue);
    case "invalid_format":
      if (issue.format === "regex") return `does not match the pattern ${issue.pattern ?? ""}`;
      if (issue.format === "starts_with" && "prefix" in issue) return `must start with ${show(issue.prefix)}`;
      return `expected ${FORMATS[issue.format] ?? `a valid ${issue.format}`}`;
    case "not_multiple_of":
      return `expected a multiple of ${issue.divisor}`;
    case "unrecognized_keys":
      return `unknown ${issue.keys.length === 1 ? "key" : "keys"} ${issue.keys.map(show).join(", ")}`;
    case "invalid_union":
      if (issue.discriminator !== undefined && "options" in issue && Array.isArray(issue.options))
        return `expected ${show(issue.discriminator)} to be one of ${issue.options.map(show).join(", ")}`;
      {
        // A union of literals (`1 | 2`) reads best as the list of its values.
        const values = issue.errors.flatMap((errors) =>
          errors.length === 1 && errors[0]?.code === "invalid_value" ? errors[0].values : [undefined],
        );
        if (values.length > 0 && !values.includes(undefined)) return `expected one of ${values.map(show).join(", ")}`;
      }
      return "matches none of the allowed forms";
    case "invalid_key":
      return `invalid key: ${issue.issues.map((inner) => inner.message).join("; ")}`;
    case "invalid_element":
      return `invalid entry: ${issue.issues.map((inner) => inner.message).join("; ")}`;
    default:
      return "invalid value";
  }
}

z.config({ localeError: describeIssue });
