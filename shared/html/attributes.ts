/**
 * The allowlists for marketer markup and the URL checks, without an HTML parser: what markup.ts
 * judges each parsed tag by, and what the page path itself needs (a recommendation card's URLs are
 * checked once the visitor's values are in, see template-render.ts). Kept apart from markup.ts so
 * the visitors' Worker does not carry parse5 (docs/decisions/0016-admin-worker-signed-rules.md).
 * @module
 */
import { decodeHTMLAttribute } from "entities/decode";

/** Content elements a hero, banner or product card needs; nothing that runs, loads a document or takes input. */
export const ALLOWED_ELEMENTS: ReadonlySet<string> = new Set([
  ..."h1 h2 h3 h4 h5 h6 p ul ol li dl dt dd a img picture source table thead tbody tfoot tr th td caption colgroup col".split(" "),
  ..."span div section article header footer aside nav main strong em b i u s small mark sub sup br hr wbr".split(" "),
  ..."blockquote q cite code pre kbd samp var abbr time figure figcaption button details summary del ins address".split(" "),
]);

/** Elements without content or end tag. */
export const VOID_ELEMENTS: ReadonlySet<string> = new Set(["img", "source", "br", "hr", "wbr", "col"]);

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
export function attributeProblem(element: string, name: string, value: string): string | null {
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
