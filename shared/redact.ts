/**
 * Personal data is taken out of everything Tailor puts on its queues (and so sends to Kafka), in
 * two ways:
 *
 * - **By name**: a property whose name matches an `EXCLUDED_PROPERTIES` entry is dropped, at any
 *   depth of objects and arrays. Names are compared as words: a name is split at separators (any
 *   character other than a letter or digit) and at camelCase and letter/digit boundaries, and
 *   lower-cased (`customerEmailAddress` → customer, email, address). An entry is normalized by
 *   lower-casing and removing `-`, `_`, `.` and spaces (`E-Mail` → `email`). A name matches when
 *   one or more consecutive words of it, joined, equal the entry: `email` matches `e-mail`,
 *   `E_Mail`, `email_address` and `customerEmail`; `ip` matches `ip_address`, `ipAddress` and
 *   `userIP` but not `shipping`, `zip` or `tip`; `first_name` matches `firstName`.
 * - **By value**: anywhere in a string (values, property names, paths with their query strings,
 *   event names) an e-mail address, an IPv4 or IPv6 address or a phone number is replaced by
 *   `[redacted:email]`, `[redacted:ip]` or `[redacted:phone]`. Phone numbers are defined narrowly,
 *   so that prices, dates, times, order numbers and product ids pass (see `isPhoneNumber`).
 *
 * Every pattern is a single character class repeated once (no nested or adjacent overlapping
 * quantifiers), so scanning is linear in the input; the shape of each candidate is then checked in
 * code. Inputs are length-capped by the event schema before they get here.
 * @module
 */

/** A predicate over property names, built from the `EXCLUDED_PROPERTIES` setting. */
export interface ExcludedNames {
  has(name: string): boolean;
}

/** How an `EXCLUDED_PROPERTIES` entry is compared: lower-case, without `-`, `_`, `.` and spaces. */
function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.\s]/g, "");
}

/** The words of a property name: split at non-alphanumerics, camelCase and letter/digit changes. */
function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1 $2")
    .replace(/([A-Za-z])([0-9])/g, "$1 $2")
    .replace(/([0-9])([A-Za-z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]/)
    .filter((word) => word !== "");
}

/** Parses the comma-separated `EXCLUDED_PROPERTIES` setting into a name matcher (see the module). */
export function excludedNames(setting: string | undefined): ExcludedNames {
  const entries = new Set(
    (setting ?? "")
      .split(",")
      .map(normalizeName)
      .filter((entry) => entry !== ""),
  );
  const known = new Map<string, boolean>();
  return {
    has(name: string): boolean {
      const cached = known.get(name);
      if (cached !== undefined) return cached;
      const words = nameWords(name);
      let excluded = false;
      for (let start = 0; start < words.length && !excluded; start++) {
        let joined = "";
        for (let end = start; end < words.length && !excluded; end++) {
          joined += words[end];
          excluded = entries.has(joined);
        }
      }
      if (known.size < 1_000) known.set(name, excluded);
      return excluded;
    },
  };
}

const EMAIL = "[redacted:email]";
const PHONE = "[redacted:phone]";
const IP = "[redacted:ip]";

const WORD_CHARACTER = /[A-Za-z0-9_]/;

function isWordCharacter(character: string | undefined): boolean {
  return character !== undefined && WORD_CHARACTER.test(character);
}

/** `local@domain` (or `local%40domain`, as in a query string) with a dotted domain ending in letters. */
function redactEmailRun(run: string): string {
  const at = run.indexOf("@");
  const encoded = run.toLowerCase().indexOf("%40");
  const separator = at !== -1 && (encoded === -1 || at < encoded) ? at : encoded;
  if (separator <= 0) return run;
  const rest = run.slice(separator + (separator === at ? 1 : 3));
  let domain = /^[A-Za-z0-9.-]*/.exec(rest)?.[0] ?? "";
  while (domain.endsWith(".") || domain.endsWith("-")) domain = domain.slice(0, -1);
  const labels = domain.split(".");
  const top = labels[labels.length - 1] ?? "";
  if (labels.length < 2 || labels.some((label) => label === "") || !/^[A-Za-z]{2,}$/.test(top)) return run;
  return EMAIL + rest.slice(domain.length);
}

function isIpv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((part) => /^[0-9]{1,3}$/.test(part) && Number(part) <= 255);
}

function isIpv6(text: string): boolean {
  let groups = text;
  let room = 8;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    // An embedded IPv4 address (`::ffff:192.0.2.1`) takes the room of two groups.
    if (!isIpv4(text.slice(lastColon + 1))) return false;
    groups = text.slice(0, lastColon + 1);
    groups = groups.endsWith("::") ? groups : groups.slice(0, -1);
    room = 6;
  }
  const halves = groups.split("::");
  if (halves.length > 2) return false;
  const parts = halves.flatMap((half) => (half === "" ? [] : half.split(":")));
  if (!parts.every((part) => /^[0-9A-Fa-f]{1,4}$/.test(part))) return false;
  if (halves.length === 1) return parts.length === room;
  return parts.length < room && (parts.length > 0 || room === 6 || text === "::");
}

/** Redacts IP addresses in a run of hex digits, dots and colons (IPv6) or of digits and dots (IPv4). */
function redactIpRun(run: string, before: string | undefined, after: string | undefined): string {
  if (isWordCharacter(before) || isWordCharacter(after)) return run;
  let candidate = run;
  while (candidate.endsWith(".")) candidate = candidate.slice(0, -1);
  const trailing = run.slice(candidate.length);
  const colons = candidate.split(":").length - 1;
  if (colons >= 2 ? isIpv6(candidate) : colons === 0 && isIpv4(candidate)) return IP + trailing;
  return run;
}

/** Separators allowed between digit groups of a phone number. */
const PHONE_SEPARATOR = /^(?:[ .-]|\)[ -]?|[ -]?\()$/;

/**
 * Whether a run of digits, `+`, parentheses, spaces, dots and dashes is a phone number:
 * - international: `+` or `00`, then 8 to 15 digits, the first not 0 (`+49 30 1234567`,
 *   `+1 (415) 555-0100`, `0049 30 1234567`; `00…` needs a separator);
 * - North American: 3-3-4 digits with an area code and exchange starting 2-9, written
 *   `(415) 555-0100`, `415-555-0100` or `415.555.0100` (not with spaces only);
 * - national with a trunk 0: 10 or 11 digits in at least two groups separated by spaces, dashes
 *   or a parenthesized area code (`030 1234567`, `020 7946 0958`, `(030) 1234567`).
 * Separators are single (`--`, `..` or double spaces do not join groups).
 */
function isPhoneNumber(candidate: string): boolean {
  const international = candidate.startsWith("+");
  const body = international ? candidate.slice(1) : candidate;
  if (body.includes("+")) return false;
  const groups = body.split(/[^0-9]/).filter((group) => group !== "");
  const separators = body.split(/[0-9]/).filter((separator, index, all) => separator !== "" && index > 0 && index < all.length - 1);
  if (body.startsWith(")") || separators.some((separator) => !PHONE_SEPARATOR.test(separator))) return false;
  const opened = body.split("(").length - 1;
  const closed = body.split(")").length - 1;
  if (opened !== closed || opened > 1) return false;
  if (opened === 1 && !/\([0-9]{1,4}\)/.test(body)) return false;
  const digits = groups.join("");
  if (international) return digits.length >= 8 && digits.length <= 15 && !digits.startsWith("0");
  if (digits.startsWith("00"))
    return groups.length >= 2 && digits.length - 2 >= 8 && digits.length - 2 <= 15 && digits[2] !== "0" && !body.includes(".");
  const [first, second, third] = groups;
  if (groups.length === 3 && first?.length === 3 && second?.length === 3 && third?.length === 4) {
    const plain = separators.every((separator) => separator === separators[0]) && (separators[0] === "-" || separators[0] === ".");
    const parenthesized = body.startsWith("(");
    if ((plain || parenthesized) && /^[2-9]/.test(first) && /^[2-9]/.test(second)) return true;
  }
  return (
    digits.startsWith("0") &&
    digits.length >= 10 &&
    digits.length <= 11 &&
    groups.length >= 2 &&
    !body.includes(".") &&
    (first?.length ?? 0) >= 2
  );
}

function redactPhoneRun(run: string, before: string | undefined): string {
  if (isWordCharacter(before) || before === "-" || before === "." || before === "+") return run;
  let end = run.length;
  while (end > 0 && " .-(".includes(run[end - 1] ?? "")) end--;
  let candidate = run.slice(0, end);
  // A closing parenthesis that belongs to the surrounding text, as in "(call 030 1234567)".
  if (candidate.endsWith(")") && candidate.split("(").length < candidate.split(")").length) candidate = candidate.slice(0, -1);
  if (!isPhoneNumber(candidate)) return run;
  return PHONE + run.slice(candidate.length);
}

/** Redacts e-mail addresses, IP addresses and phone numbers in plain text. */
function redactPlain(text: string): string {
  return text
    .replace(/[A-Za-z0-9._%+@-]+/g, (run) => (run.includes("@") || run.includes("%") ? redactEmailRun(run) : run))
    .replace(/[0-9A-Fa-f:.]+/g, (run, offset: number, whole: string) =>
      run.includes(":") ? redactIpRun(run, whole[offset - 1], whole[offset + run.length]) : run,
    )
    .replace(/[0-9.]+/g, (run, offset: number, whole: string) =>
      run.includes(".") ? redactIpRun(run, whole[offset - 1], whole[offset + run.length]) : run,
    )
    .replace(/[+(]?[0-9][0-9() .-]*/g, (run, offset: number, whole: string) => redactPhoneRun(run, whole[offset - 1]));
}

const ENCODED = /%(?:40|2B|20|3A|2E|28|29|2D)/gi;

/**
 * Redacts e-mail addresses, IP addresses and phone numbers anywhere in `text`. Percent-encoded
 * forms in paths and query strings (`%2B49%2030%201234567`) are found too: when decoding the
 * characters these shapes use reveals something, the decoded text is returned redacted.
 */
export function redactText(text: string): string {
  // Every shape needs a digit, `@`, `%` (encoded) or `:` (IPv6): most names and paths have none.
  if (!/[0-9@%:]/.test(text)) return text;
  const plain = redactPlain(text);
  if (!text.includes("%")) return plain;
  const decoded = text.replace(ENCODED, (sequence) => String.fromCharCode(Number.parseInt(sequence.slice(1), 16)));
  const redacted = redactPlain(decoded);
  return redacted === decoded ? plain : redacted;
}

/** `value` without excluded names at any depth and with personal data redacted from every string. */
export function redactValue(value: unknown, excluded: ExcludedNames): unknown {
  if (typeof value === "string") return redactText(value);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, excluded));
  if (value !== null && typeof value === "object") {
    const kept: Record<string, unknown> = {};
    for (const [name, inner] of Object.entries(value)) {
      if (!excluded.has(name)) kept[redactText(name)] = redactValue(inner, excluded);
    }
    return kept;
  }
  return value;
}

/** `text` redacted and cut to `max` characters (a redaction can be longer than what it replaced). */
export function redactCapped(text: string, max: number): string {
  return redactText(text).slice(0, max);
}
