/**
 * Signed previews for QA: a link with `?tailor_preview=<token>` forces experiment variants (and may
 * ask for the decision trace) without touching anyone's real assignment. Tokens are HMAC-signed
 * with a key derived from `VISITOR_ID_SECRET`, so the variants, the page and the expiry they name
 * cannot be changed; a token minted for one page is ignored on any other. Previews are never
 * cached, log no exposures, and a forced variant shows even to a visitor in the holdout.
 * @module
 */

import { decodeBase64Url } from "hono/utils/encode";
import { encodeTextBase64Url, encodeUnpaddedBase64Url } from "../../shared/base64url.ts";
import * as z from "../../shared/zod.ts";

export const PREVIEW_PARAMETER = "tailor_preview";

export const PreviewGrant = z.strictObject({
  /** Experiment id → variant to show. */
  forced: z._default(z.record(z.string().check(z.maxLength(64)), z.string().check(z.maxLength(64))), {}),
  /** The only page the token works on (exact path, no query); absent only in tokens made by tests. */
  path: z.optional(z.string().check(z.startsWith("/"), z.maxLength(512))),
  /** Whether the holder may see the decision trace. */
  explain: z._default(z.boolean(), false),
  /** Expiry, seconds since the epoch. */
  exp: z.int().check(z.positive()),
});
export type PreviewGrant = z.infer<typeof PreviewGrant>;

const encoder = new TextEncoder();

async function previewKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", encoder.encode(`tailor-preview:${secret}`), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
}

/** A token granting `grant` (used by the admin API and tests). */
export async function signPreview(grant: z.input<typeof PreviewGrant>, secret: string): Promise<string> {
  const payload = encodeTextBase64Url(JSON.stringify(PreviewGrant.parse(grant)));
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", await previewKey(secret), encoder.encode(payload)));
  return `${payload}.${encodeUnpaddedBase64Url(signature)}`;
}

/** The longest a preview link may live: QA links are for a release, not forever. */
export const MAX_PREVIEW_TTL_MINUTES = 7 * 24 * 60;

/** The grant in a token for the page at `path`, or null when it is malformed, forged, expired or for another page. */
export async function verifyPreview(token: string, secret: string | undefined, now: number, path: string): Promise<PreviewGrant | null> {
  if (secret === undefined || token.length > 4_096) return null;
  const [payload, signature, extra] = token.split(".");
  if (payload === undefined || signature === undefined || extra !== undefined) return null;
  try {
    const valid = await crypto.subtle.verify("HMAC", await previewKey(secret), decodeBase64Url(signature), encoder.encode(payload));
    if (!valid) return null;
    const grant = PreviewGrant.safeParse(JSON.parse(new TextDecoder().decode(decodeBase64Url(payload))));
    if (!grant.success || grant.data.exp * 1_000 <= now) return null;
    return grant.data.path === undefined || grant.data.path === path ? grant.data : null;
  } catch {
    return null;
  }
}
