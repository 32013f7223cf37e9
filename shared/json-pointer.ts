/**
 * JSON pointers (RFC 6901), the way problems and diffs name a place in a document.
 * @see https://www.rfc-editor.org/rfc/rfc6901
 * @module
 */

/** One reference token: `~` and `/` escaped. */
export function escapePointerPart(part: PropertyKey): string {
  return String(part).replace(/~/g, "~0").replace(/\//g, "~1");
}

export function pointerOf(path: readonly PropertyKey[]): string {
  return `/${path.map(escapePointerPart).join("/")}`;
}
