/**
 * base64url without padding (RFC 4648 §5), as JWTs, proofs, preview tokens, visitor ids and
 * pseudonyms write it: they travel in URLs, cookies and Durable Object names, where `=` is noise.
 * The encoding itself is Hono's; this only drops the padding, in one place.
 * @see https://www.rfc-editor.org/rfc/rfc4648#section-5
 * @module
 */

import { encodeBase64Url } from "hono/utils/encode";

/** The bytes as unpadded base64url. */
export function encodeUnpaddedBase64Url(bytes: ArrayBuffer | Uint8Array): string {
  return encodeBase64Url(bytes instanceof Uint8Array ? bytes.slice().buffer : bytes).replace(/=+$/, "");
}

/** The UTF-8 of a text as unpadded base64url. */
export function encodeTextBase64Url(text: string): string {
  return encodeUnpaddedBase64Url(new TextEncoder().encode(text));
}
