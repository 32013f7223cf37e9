/**
 * Cloudflare Access assertions, now verified by `hono/jwt` `verifyWithJwks` with the team's cached
 * keys: everything the hand-written check refused is still refused.
 */
import { describe, expect, it } from "vitest";
import { encodeTextBase64Url } from "../../../shared/base64url.ts";
import { accessSettings, signAccessToken } from "../../support/worker/access.ts";
import { request } from "../../support/worker/fixtures.ts";

const ACCESS = accessSettings();
const encode = (value: unknown) => encodeTextBase64Url(JSON.stringify(value));
const sign = signAccessToken;

const status = async (assertion: string) =>
  (await request("/admin/api/audit", { headers: { "cf-access-jwt-assertion": assertion } }, ACCESS)).status;

describe("Cloudflare Access assertions", () => {
  const now = Math.floor(Date.now() / 1000);
  const claims = { aud: ["tailor-admin-aud"], iss: "https://tailor.cloudflareaccess.com", exp: now + 600, email: "marketer@shop.example" };

  it.each([
    ["valid", claims],
    ["with the audience as a string", { ...claims, aud: "tailor-admin-aud" }],
    ["not yet valid by less than a minute (clock skew)", { ...claims, nbf: now + 30 }],
  ])("lets in an assertion %s", async (_, body) => {
    expect(await status(await sign(body))).toBe(200);
  });

  it.each([
    ["expired", { ...claims, exp: now - 10 }],
    ["without exp", { ...claims, exp: undefined }],
    ["for another audience", { ...claims, aud: ["someone-else"] }],
    ["without an audience", { ...claims, aud: undefined }],
    ["from another issuer", { ...claims, iss: "https://evil.cloudflareaccess.com" }],
    ["not valid for another ten minutes", { ...claims, nbf: now + 600 }],
  ])("refuses an assertion %s", async (_, body) => {
    expect(await status(await sign(body))).toBe(401);
  });

  it.each([
    ["an unknown key id", { alg: "RS256", kid: "unknown-key" }],
    ["no key id", { alg: "RS256" }],
    ["alg none", { alg: "none", kid: "test-key" }],
    ["alg HS256", { alg: "HS256", kid: "test-key" }],
  ])("refuses an assertion with %s", async (_, header) => {
    expect(await status(await sign(claims, header))).toBe(401);
  });

  it.each([
    ["a changed signature", (token: string) => `${token.slice(0, -6)}AAAAAA`],
    ["a fourth segment", (token: string) => `${token}.AAAA`],
    ["a changed payload", (token: string) => token.replace(/\.[^.]+\./, `.${encode({ ...claims, email: "admin@shop.example" })}.`)],
    ["garbage", () => "not.a.jwt"],
  ])("refuses a token with %s", async (_, tamper) => {
    expect(await status(tamper(await sign(claims)))).toBe(401);
  });
});
