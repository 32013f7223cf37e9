/**
 * Cloudflare Access assertions for tests: RS256 JWTs signed with the key whose public half the
 * global setup publishes at `accessCertsUrl`, and the settings that make the Worker trust it.
 */
import { inject } from "vitest";
import { encodeUnpaddedBase64Url } from "../../../shared/base64url.ts";

/** Settings that turn on Access verification against the test key set. */
export function accessSettings(): Partial<Env> {
  return { ACCESS_TEAM_DOMAIN: "tailor.cloudflareaccess.com", ACCESS_AUD: "tailor-admin-aud", ACCESS_CERTS_URL: inject("accessCertsUrl") };
}

/** Claims of an assertion for `email` that the Worker accepts, valid for ten minutes. */
export function accessClaims(email = "marketer@shop.example"): Record<string, unknown> {
  return { aud: ["tailor-admin-aud"], iss: "https://tailor.cloudflareaccess.com", exp: Math.floor(Date.now() / 1000) + 600, email };
}

/** Any JWT signed with the test key: valid or not, as the claims and header say. */
export async function signAccessToken(
  claims: Record<string, unknown>,
  header: Record<string, unknown> = { alg: "RS256", kid: "test-key" },
): Promise<string> {
  const key = await crypto.subtle.importKey(
    "jwk",
    JSON.parse(inject("accessPrivateKey")) as JsonWebKey,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const json = (value: unknown) => encodeUnpaddedBase64Url(new TextEncoder().encode(JSON.stringify(value)));
  const unsigned = `${json(header)}.${json(claims)}`;
  return `${unsigned}.${encodeUnpaddedBase64Url(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, new TextEncoder().encode(unsigned)))}`;
}

/** A valid assertion for `email`, expiring in ten minutes. */
export function accessAssertion(email = "marketer@shop.example"): Promise<string> {
  return signAccessToken(accessClaims(email));
}
