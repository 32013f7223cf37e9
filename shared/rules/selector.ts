/**
 * HTMLRewriter (lol-html) understands a subset of CSS selectors: type, universal, class, id and
 * attribute selectors, `:nth-child`, `:first-child`, `:nth-of-type`, `:first-of-type`, `:not`, and
 * the descendant and child combinators. This check names what a selector uses outside that subset,
 * so a marketer hears why at publish time instead of the slot silently never matching. The Worker
 * also asks HTMLRewriter itself (`selectorProblem` in workers/common/rewrite.ts).
 * @see https://developers.cloudflare.com/workers/runtime-apis/html-rewriter/#selectors
 * @module
 */

const SUPPORTED_PSEUDO = new Set(["nth-child", "first-child", "nth-of-type", "first-of-type", "not"]);

/** Null when HTMLRewriter can use `selector`, otherwise the reason it cannot. */
export function checkSelector(selector: string): string | null {
  const text = selector.trim();
  if (text === "") return "the selector is empty";
  // Strip quoted attribute values so their contents are not mistaken for syntax.
  const bare = text.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  if (/::/.test(bare)) return "pseudo-elements (::before, ::after, ...) are not supported by HTMLRewriter";
  if (/[+~](?![^[]*\])/.test(bare.replace(/\[[^\]]*\]/g, "[]")))
    return "the sibling combinators '+' and '~' are not supported by HTMLRewriter";
  if (/[{}]/.test(bare)) return "a selector cannot contain '{' or '}'";
  for (const match of bare.matchAll(/:([a-zA-Z-]+)/g)) {
    const name = (match[1] ?? "").toLowerCase();
    if (!SUPPORTED_PSEUDO.has(name))
      return `the pseudo-class ':${name}' is not supported by HTMLRewriter (supported: :nth-child, :first-child, :nth-of-type, :first-of-type, :not)`;
  }
  let depth = 0;
  for (const character of bare) {
    if (character === "[" || character === "(") depth++;
    if (character === "]" || character === ")") depth--;
    if (depth < 0) return "unbalanced brackets";
  }
  if (depth !== 0) return "unbalanced brackets";
  return null;
}
