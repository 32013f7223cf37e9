/**
 * Recommendation card templates: marketer HTML with `{{id}} {{name}} {{url}} {{price}} {{category}}`
 * placeholders, filled from models trained on visitor events (so the values are not trusted).
 * A template is compiled once: parsed like any published HTML (markup.ts), and every placeholder
 * is given the context it stands in, so it is escaped for that context when a card is rendered.
 * Text and quoted attribute values are HTML-escaped; a URL attribute is checked whole after the
 * values are in, and becomes `#` when it is not a safe URL. A placeholder anywhere else (a tag or
 * attribute name, an unquoted attribute value, a comment) cannot be escaped and is refused.
 * @module
 */

import { err, ok, type Result } from "../result.ts";
import { parseMarkup, URL_ATTRIBUTES } from "./markup.ts";
import type { CompiledTemplate, Part, Piece, PlaceholderKey } from "./template-render.ts";

export { type CompiledTemplate, escapeHtml, type PlaceholderKey, renderTemplate } from "./template-render.ts";

const PLACEHOLDER = /\{\{\s*(id|name|url|price|category)\s*\}\}/g;

interface Occurrence {
  start: number;
  end: number;
  key: PlaceholderKey;
}

interface Region {
  start: number;
  end: number;
  part: Part;
}

/** Splits `source[start, end)` into literal runs and placeholders. */
function piecesOf(source: string, start: number, end: number, occurrences: readonly Occurrence[]): Piece[] {
  const pieces: Piece[] = [];
  let at = start;
  for (const occurrence of occurrences) {
    if (occurrence.start < start || occurrence.end > end) continue;
    if (occurrence.start > at) pieces.push(source.slice(at, occurrence.start));
    pieces.push({ key: occurrence.key });
    at = occurrence.end;
  }
  if (at < end) pieces.push(source.slice(at, end));
  return pieces;
}

/** Compiles `template`, or returns every reason it cannot be published. */
export function compileTemplate(template: string): Result<CompiledTemplate, string[]> {
  const parsed = parseMarkup(template);
  const problems = [...parsed.problems];
  const occurrences: Occurrence[] = [...template.matchAll(PLACEHOLDER)].map((match) => ({
    start: match.index,
    end: match.index + match[0].length,
    key: match[1] as PlaceholderKey,
  }));
  const placed = new Set<Occurrence>();
  const regions: Region[] = [];
  const within = (start: number, end: number) => occurrences.filter((one) => one.start >= start && one.end <= end);

  const stack = [...parsed.nodes];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === undefined) break;
    const location = node.sourceCodeLocation;
    if (location === null || location === undefined) continue;
    if (node.nodeName === "#text") {
      for (const one of within(location.startOffset, location.endOffset)) {
        placed.add(one);
        regions.push({ start: one.start, end: one.end, part: { key: one.key } });
      }
      continue;
    }
    if (!("attrs" in node)) continue;
    for (const attribute of node.attrs) {
      const span = node.sourceCodeLocation?.attrs?.[attribute.name];
      if (span === undefined) continue;
      const source = template.slice(span.startOffset, span.endOffset);
      const equals = source.indexOf("=");
      const afterEquals = equals < 0 ? "" : source.slice(equals + 1);
      const quote = afterEquals.trimStart()[0];
      if (quote !== '"' && quote !== "'") continue;
      const valueStart = span.startOffset + equals + 1 + (afterEquals.length - afterEquals.trimStart().length) + 1;
      const valueEnd = span.endOffset - 1;
      const inValue = within(valueStart, valueEnd);
      for (const one of inValue) placed.add(one);
      if (inValue.length === 0) continue;
      const name = attribute.name.toLowerCase();
      if (name === "srcset" || URL_ATTRIBUTES.has(name)) {
        const url = name === "srcset" ? "srcset" : "url";
        regions.push({ start: valueStart, end: valueEnd, part: { url, pieces: piecesOf(template, valueStart, valueEnd, inValue) } });
      } else {
        for (const one of inValue) regions.push({ start: one.start, end: one.end, part: { key: one.key } });
      }
    }
    stack.push(...node.childNodes);
  }
  for (const one of occurrences) {
    if (!placed.has(one))
      problems.push(
        `{{${one.key}}} at offset ${one.start} stands in a tag name, attribute name, unquoted attribute value or comment, where it cannot be escaped; put it in text or a quoted attribute value`,
      );
  }
  if (problems.length > 0) return err(problems);

  regions.sort((a, b) => a.start - b.start);
  const parts: Part[] = [];
  let at = 0;
  for (const region of regions) {
    if (region.start > at) parts.push(template.slice(at, region.start));
    parts.push(region.part);
    at = region.end;
  }
  if (at < template.length) parts.push(template.slice(at));
  return ok({ parts });
}
