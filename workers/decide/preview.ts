/**
 * Signed previews for QA: a link with `?tailor_preview=<token>` forces experiment variants (and may
 * ask for the decision trace) without touching anyone's real assignment. Tokens are HMAC-signed
 * with a key derived from `VISITOR_ID_SECRET` and expire; previews are never cached and log no
 * exposures.
 * @module
 */
import { z } from "zod";

export const PREVIEW_PARAMETER = "tailor_preview";

export const PreviewGrant = z.strictObject({
  /** Experiment id → variant to show. */
  forced: z.record(z.string().max(64), z.string().max(64)).default({}),
  /** Whether the holder may see the decision trace. */
  explain: z.boolean().default(false),
  /** Expiry, seconds since the epoch. */
  exp: z.number().int().positive(),
});
export type PreviewGrant = z.infer<typeof PreviewGrant>;

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (character) => character.charCodeAt(0));
}

async function previewKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", encoder.encode(`tailor-preview:${secret}`), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
}

/** A token granting `grant` (used by the admin API and tests). */
export async function signPreview(grant: z.input<typeof PreviewGrant>, secret: string): Promise<string> {
  const payload = base64url(encoder.encode(JSON.stringify(PreviewGrant.parse(grant))));
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", await previewKey(secret), encoder.encode(payload)));
  return `${payload}.${base64url(signature)}`;
}

/** The grant in a token, or null when it is malformed, forged or expired. */
export async function verifyPreview(token: string, secret: string | undefined, now: number): Promise<PreviewGrant | null> {
  if (secret === undefined || token.length > 4_096) return null;
  const [payload, signature, extra] = token.split(".");
  if (payload === undefined || signature === undefined || extra !== undefined) return null;
  try {
    const valid = await crypto.subtle.verify("HMAC", await previewKey(secret), fromBase64url(signature), encoder.encode(payload));
    if (!valid) return null;
    const grant = PreviewGrant.safeParse(JSON.parse(new TextDecoder().decode(fromBase64url(payload))));
    return grant.success && grant.data.exp * 1_000 > now ? grant.data : null;
  } catch {
    return null;
  }
}
