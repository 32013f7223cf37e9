/**
 * Cloudflare Access assertions for tests: RS256 JWTs signed with the key whose public half the
 * global setup publishes at `accessCertsUrl`, and the settings that make the Worker trust it.
 */
import { inject } from "vitest";

/** Settings that turn on Access verification against the test key set. */
export function accessSettings(): Partial<Env> {
  return { ACCESS_TEAM_DOMAIN: "tailor.cloudflareaccess.com", ACCESS_AUD: "tailor-admin-aud", ACCESS_CERTS_URL: inject("accessCertsUrl") };
}

function encodeSegment(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** A valid assertion for `email`, expiring in ten minutes. */
export async function accessAssertion(email = "marketer@shop.example"): Promise<string> {
  const key = await crypto.subtle.importKey(
    "jwk",
    JSON.parse(inject("accessPrivateKey")) as JsonWebKey,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const now = Math.floor(Date.now() / 1000);
  const json = (value: unknown) => encodeSegment(new TextEncoder().encode(JSON.stringify(value)));
  const unsigned = `${json({ alg: "RS256", kid: "test-key" })}.${json({
    aud: ["tailor-admin-aud"],
    iss: "https://tailor.cloudflareaccess.com",
    exp: now + 600,
    email,
  })}`;
  const signature = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, new TextEncoder().encode(unsigned)));
  return `${unsigned}.${encodeSegment(signature)}`;
}
