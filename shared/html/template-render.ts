/**
 * Rendering a compiled recommendation card (compiled by template.ts, at publish): literal source
 * as published, each placeholder's value escaped for the context the compiler gave it, a URL
 * attribute checked whole once the values are in. The page path renders with this module alone;
 * the parser behind compiling stays in the admin Worker
 * (docs/decisions/0016-admin-worker-signed-rules.md).
 * @module
 */

import { decodeHTMLAttribute } from "entities/decode";
import * as z from "../zod.ts";
import { isSafeSrcset, isSafeUrl } from "./attributes.ts";

export const PLACEHOLDER_KEYS = ["id", "name", "url", "price", "category"] as const;
export type PlaceholderKey = (typeof PLACEHOLDER_KEYS)[number];

export type Piece = string | { readonly key: PlaceholderKey };
/** A literal run of the template, an escaped value, or a URL attribute's whole value. */
export type Part = string | { readonly key: PlaceholderKey } | { readonly url: "url" | "srcset"; readonly pieces: readonly Piece[] };

/** A template ready to render: literal source and the holes between, each with its context. */
export interface CompiledTemplate {
  readonly parts: readonly Part[];
}

/**
 * A compiled template as stored in KV next to its rules version (under the version's signature):
 * parsed at the boundary like any stored value, though only a signed one is ever read.
 */
export const StoredTemplate = z.strictObject({
  parts: z.array(
    z.union([
      z.string(),
      z.strictObject({ key: z.enum(PLACEHOLDER_KEYS) }),
      z.strictObject({
        url: z.enum(["url", "srcset"]),
        pieces: z.array(z.union([z.string(), z.strictObject({ key: z.enum(PLACEHOLDER_KEYS) })])),
      }),
    ]),
  ),
});

/** Escapes for text and for single- or double-quoted attribute values alike. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/** Renders one card: values escaped for where they stand; an unsafe URL attribute becomes `#`. */
export function renderTemplate(template: CompiledTemplate, values: Readonly<Record<PlaceholderKey, string>>): string {
  let html = "";
  for (const part of template.parts) {
    if (typeof part === "string") html += part;
    else if ("key" in part) html += escapeHtml(values[part.key]);
    else {
      const source = part.pieces.map((piece) => (typeof piece === "string" ? piece : escapeHtml(values[piece.key]))).join("");
      const safe = part.url === "srcset" ? isSafeSrcset(decodeHTMLAttribute(source)) : isSafeUrl(source);
      html += safe ? source : "#";
    }
  }
  return html;
}
