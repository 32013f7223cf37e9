/**
 * Identity proofs: how the site's own server vouches that a browser belongs to a user id.
 *
 * A proof is `<expires>.<signature>`: `expires` is a Unix time in whole seconds (decimal, no
 * leading zeros) and `signature` is the unpadded base64url HMAC-SHA-256, under the secret the site
 * shares with Tailor (`IDENTITY_SECRET`), of `tailor-identity:v1:<userId>:<expires>`. The user id is
 * signed byte for byte as sent: no trimming, case folding or normalization, so a proof for
 * `Alice` or ` alice` never stands for `alice`. A proof is accepted only until `expires`, and only
 * if `expires` is at most a day ahead, so a leaked proof stops working within a day even when the
 * site mistakenly signed it for longer. See docs/decisions/0009-identity-proof.md.
 * @module
 */
import { decodeBase64Url } from "hono/utils/encode";
import { encodeUnpaddedBase64Url } from "../base64url.ts";
import { err, ok, type Result } from "../result.ts";

/** The longest a proof may be valid for, counted from the moment it is checked. */
const MAX_PROOF_LIFETIME_SECONDS = 24 * 60 * 60;
/** Allowance for the site's clock running ahead of ours. */
const CLOCK_SKEW_SECONDS = 5 * 60;
/** `expires` then 43 base64url characters: exactly the 32 bytes of an HMAC-SHA-256. */
const PROOF_FORMAT = /^([1-9][0-9]{0,11})\.([A-Za-z0-9_-]{43})$/;

/** Why a proof does not prove anything; logged and returned to the caller, never a reason to fail the request. */
export type ProofError = "malformed" | "expired" | "too-long-lived" | "wrong-signature";

/** The exact bytes a proof signs. */
function identityProofMessage(userId: string, expires: number): Uint8Array {
  return new TextEncoder().encode(`tailor-identity:v1:${userId}:${expires}`);
}

/** Imports the shared secret as an HMAC-SHA-256 key that can sign (sites, tests) and verify (Tailor). */
export function importIdentityKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

/** Signs a proof for `userId` valid until `expires` (Unix seconds): what the site's server does. */
export async function signIdentityProof(key: CryptoKey, userId: string, expires: number): Promise<string> {
  const signature = await crypto.subtle.sign("HMAC", key, identityProofMessage(userId, expires));
  return `${expires}.${encodeUnpaddedBase64Url(signature)}`;
}

/**
 * Checks that `proof` vouches for exactly `userId` at `nowSeconds`. The signature is compared by
 * `crypto.subtle.verify`, in constant time.
 */
export async function verifyIdentityProof(
  key: CryptoKey,
  userId: string,
  proof: string,
  nowSeconds: number,
): Promise<Result<{ expires: number }, ProofError>> {
  const match = PROOF_FORMAT.exec(proof);
  const expiresText = match?.[1];
  const signatureText = match?.[2];
  if (expiresText === undefined || signatureText === undefined) return err("malformed");
  const signature = decodeBase64Url(signatureText);
  // The last character carries two unused bits; only the one canonical spelling is accepted.
  if (encodeUnpaddedBase64Url(signature) !== signatureText) return err("malformed");
  const expires = Number(expiresText);
  if (expires <= nowSeconds) return err("expired");
  if (expires > nowSeconds + MAX_PROOF_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) return err("too-long-lived");
  const valid = await crypto.subtle.verify("HMAC", key, signature, identityProofMessage(userId, expires));
  return valid ? ok({ expires }) : err("wrong-signature");
}
