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
import { type DefaultTreeAdapterTypes, defaultTreeAdapter, html as htmlSpec, parseFragment, Tokenizer } from "parse5";

import { ALLOWED_ELEMENTS, attributeProblem, VOID_ELEMENTS } from "./attributes.ts";

export { isSafeSrcset, isSafeUrl, setAttributeProblem, URL_ATTRIBUTES } from "./attributes.ts";

type ChildNode = DefaultTreeAdapterTypes.ChildNode;

/** Nesting deeper than this is no content anyone writes by hand, and costs the browser. */
const MAX_DEPTH = 64;
/** A marketer needs the first few reasons to fix a string, not thousands. */
const MAX_PROBLEMS = 10;

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
