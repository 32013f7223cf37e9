/**
 * What marketers may publish as HTML and URLs. Their markup is inserted into every visitor's page,
 * so it is parsed the way a browser parses it (parse5 follows the WHATWG tokenizer and tree
 * construction) and every element, attribute and URL is checked against an allowlist. Anything
 * outside it is refused with a reason, never dropped silently, so the marketer sees what would
 * not be published. Malformed markup (any parse error, an element left open) is refused too: the
 * string is inserted as written, next to the origin's own markup, and only markup that parses the
 * same way wherever it lands can be judged by its parse here. docs/decisions/0011-html-allowlist.md
 * says why this parser and these lists.
 * @module
 */
import { decodeHTMLAttribute } from "entities/decode";
import { type DefaultTreeAdapterTypes, defaultTreeAdapter, html as htmlSpec, parseFragment, Tokenizer } from "parse5";

type ChildNode = DefaultTreeAdapterTypes.ChildNode;

/** Content elements a hero, banner or product card needs; nothing that runs, loads a document or takes input. */
const ALLOWED_ELEMENTS = new Set([
  ..."h1 h2 h3 h4 h5 h6 p ul ol li dl dt dd a img picture source table thead tbody tfoot tr th td caption colgroup col".split(" "),
  ..."span div section article header footer aside nav main strong em b i u s small mark sub sup br hr wbr".split(" "),
  ..."blockquote q cite code pre kbd samp var abbr time figure figcaption button details summary del ins address".split(" "),
]);

/** Elements without content or end tag. */
const VOID_ELEMENTS = new Set(["img", "source", "br", "hr", "wbr", "col"]);

/** Attributes allowed on any allowed element (plus `data-*` and `aria-*`). */
const ALLOWED_ATTRIBUTES = new Set([
  ..."class id role alt title href src srcset sizes width height loading decoding fetchpriority rel target hreflang".split(" "),
  ..."lang dir translate datetime colspan rowspan headers scope span start reversed value cite media open".split(" "),
]);

/** Attributes allowed only on some elements. */
const ELEMENT_ATTRIBUTES: Readonly<Record<string, ReadonlySet<string>>> = {
  source: new Set(["type"]),
  button: new Set(["type"]),
};

/** Attributes that browsers read as URLs (on some element); every one is checked wherever it appears. */
export const URL_ATTRIBUTES: ReadonlySet<string> = new Set([
  "href",
  "src",
  "srcset",
  "xlink:href",
  "action",
  "formaction",
  "poster",
  "data",
  "cite",
  "background",
  "ping",
  "longdesc",
  "lowsrc",
  "dynsrc",
  "manifest",
  "codebase",
  "archive",
  "profile",
  "usemap",
  "icon",
  "itemtype",
]);

/**
 * Link types a marketer's link may carry. Anything else is refused, above all `opener`, which gives
 * a page opened with `target="_blank"` a handle on the shop's tab (reverse tabnabbing).
 * @see https://html.spec.whatwg.org/multipage/links.html#linkTypes
 */
const ALLOWED_REL_TOKENS = new Set(
  "noopener noreferrer nofollow ugc sponsored external prev next help license tag author bookmark alternate".split(" "),
);

const CUSTOM_ATTRIBUTE = /^(?:data|aria)-[a-z0-9_.-]{1,64}$/;
/** Nesting deeper than this is no content anyone writes by hand, and costs the browser. */
const MAX_DEPTH = 64;
/** A marketer needs the first few reasons to fix a string, not thousands. */
const MAX_PROBLEMS = 10;

/** Schemes a marketer's link or image may use; everything else (javascript:, data:, vbscript:, blob:…) is refused. */
const SAFE_SCHEMES = new Set(["http", "https", "mailto", "tel"]);

/**
 * True when `decoded` (an attribute value as the browser sees it, entities already decoded) is a
 * relative URL or an http(s)/mailto/tel one. Browsers drop ASCII tab and newline anywhere in a URL
 * and leading C0 controls and spaces, so they are removed before the scheme is read (and C1 controls
 * with them, to be safe).
 */
function isSafeDecodedUrl(decoded: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
  const compact = decoded.replace(/[\u0000-\u0020\u007f-\u009f]/g, "");
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(compact);
  return scheme === null || SAFE_SCHEMES.has((scheme[1] ?? "").toLowerCase());
}

/** True when `value`, as written in markup (entities such as `&#x61;` or `&colon;` not yet decoded), is a safe URL. */
export function isSafeUrl(value: string): boolean {
  return isSafeDecodedUrl(decodeHTMLAttribute(value));
}

/**
 * A `srcset` is a comma-separated list of `url [descriptor]`. Each candidate is checked whole with
 * its whitespace removed, which is stricter than a browser (it ends the URL at whitespace) and
 * never looser.
 */
export function isSafeSrcset(decoded: string): boolean {
  return decoded.split(",").every(isSafeDecodedUrl);
}

/**
 * Null when attribute `name` with the (decoded) `value` may be published on `element` (`*` when the
 * element is not known, as for `setAttribute` on the origin's markup), otherwise the reason.
 */
function attributeProblem(element: string, name: string, value: string): string | null {
  const lower = name.toLowerCase();
  if (lower.startsWith("on")) return `event handler attribute "${name}" is not allowed`;
  if (lower === "style") return `the style attribute is not allowed (use a class)`;
  if (lower === "srcdoc") return `the srcdoc attribute is not allowed`;
  if (lower.startsWith("form")) return `form attribute "${name}" is not allowed`;
  const allowed = ALLOWED_ATTRIBUTES.has(lower) || CUSTOM_ATTRIBUTE.test(lower) || (ELEMENT_ATTRIBUTES[element]?.has(lower) ?? false);
  if (!allowed) return `attribute "${name}" is not allowed${element === "*" ? "" : ` on <${element}>`}`;
  if (lower === "rel") {
    // Browsers split rel on ASCII whitespace and compare tokens case-insensitively.
    const refused = value
      .toLowerCase()
      .split(/[\t\n\f\r ]+/)
      .filter((token) => token !== "" && !ALLOWED_REL_TOKENS.has(token));
    if (refused.length > 0) return `rel "${refused.join(" ")}" is not allowed`;
  }
  if (lower === "type" && element === "button" && value.trim().toLowerCase() !== "button")
    return `a button may only be type="button" (no form submission)`;
  if (lower === "srcset" ? !isSafeSrcset(value) : URL_ATTRIBUTES.has(lower) && !isSafeDecodedUrl(value))
    return `${name} must be a relative, http(s), mailto: or tel: URL`;
  return null;
}

/**
 * Null when `name`/`value` may be set with a `setAttribute` action. The value is set through
 * HTMLRewriter, which escapes quotes but not `&`, so the browser decodes entities in it: it is
 * checked as the browser will read it.
 */
export function setAttributeProblem(name: string, value: string): string | null {
  const lower = name.toLowerCase();
  if (lower === "type") return `the type attribute cannot be set`;
  return attributeProblem("*", lower, decodeHTMLAttribute(value));
}

/** A parsed fragment and, for templates, where its text and attribute values stand in the source. */
export interface ParsedMarkup {
  nodes: readonly ChildNode[];
  problems: string[];
}

const DIV_CONTEXT = defaultTreeAdapter.createElement("div", htmlSpec.NS.HTML, []);

/**
 * Checks every tag as the tokenizer emits it, before tree construction. The tree built for a
 * `<div>` drops tokens that are out of place there (`<td>`, `<body>`, `<frameset>`), but in
 * the page the same tokens can land in a table row, or add their attributes to the page's body:
 * so every tag written is judged, wherever it would end up. No allowed element switches the
 * tokenizer into raw text, so these are the tokens a browser sees up to the first refused tag.
 */
function checkTokens(markup: string, add: (problem: string) => void): void {
  const ignore = () => undefined;
  const tokenizer = new Tokenizer(
    { sourceCodeLocationInfo: false },
    {
      onStartTag: (token) => {
        if (!ALLOWED_ELEMENTS.has(token.tagName)) {
          add(`<${token.tagName}> is not allowed`);
          return;
        }
        for (const attribute of token.attrs) {
          const problem = attributeProblem(token.tagName, attribute.name, attribute.value);
          if (problem !== null) add(problem);
        }
      },
      onEndTag: (token) => {
        if (!ALLOWED_ELEMENTS.has(token.tagName)) add(`<${token.tagName}> is not allowed`);
      },
      onComment: () => add("HTML comments are not published"),
      onDoctype: () => add("a doctype is not published"),
      onEof: ignore,
      onCharacter: ignore,
      onNullCharacter: ignore,
      onWhitespaceCharacter: ignore,
    },
  );
  tokenizer.write(markup, true);
}

/** Parses `markup` as a browser parses it inside a `<div>` and collects every reason to refuse it. */
export function parseMarkup(markup: string): ParsedMarkup {
  const problems: string[] = [];
  const add = (problem: string) => {
    if (problems.length < MAX_PROBLEMS && !problems.includes(problem)) problems.push(problem);
  };
  const fragment = parseFragment(DIV_CONTEXT, markup, {
    sourceCodeLocationInfo: true,
    scriptingEnabled: true,
    onParseError: (error) =>
      add(`malformed HTML (${error.code} at line ${error.startLine}, column ${error.startCol}); browsers may read it differently`),
  });
  checkTokens(markup, add);
  // Iterative walk: a long string of nested tags must not exhaust the stack.
  const stack: [ChildNode, number][] = fragment.childNodes.map((node): [ChildNode, number] => [node, 1]);
  while (stack.length > 0) {
    const next = stack.pop();
    if (next === undefined) break;
    const [node, depth] = next;
    if (!("tagName" in node)) continue;
    if (depth > MAX_DEPTH) {
      add(`elements are nested more than ${MAX_DEPTH} deep`);
      continue;
    }
    // Elements the parser implies (a table's tbody) have no tags of their own to close.
    const location = node.sourceCodeLocation;
    if (!VOID_ELEMENTS.has(node.tagName) && location?.startTag !== undefined && location.endTag === undefined)
      add(`<${node.tagName}> is not closed; close every element with its end tag`);
    for (const child of node.childNodes) stack.push([child, depth + 1]);
  }
  return { nodes: fragment.childNodes, problems };
}

/** Empty when `markup` may be published, otherwise the reasons (at most ten). */
export function checkHtml(markup: string): string[] {
  return parseMarkup(markup).problems;
}
