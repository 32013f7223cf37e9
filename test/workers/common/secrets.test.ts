/**
 * Secret comparison: right answers for every length and encoding, through the platform's
 * constant-time comparison; and the `/v1/decide` explain trace admits only the exact admin token.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { isAdminBearer, secretsEqual } from "../../../workers/common/secrets.ts";
import { publishRules, request } from "../../support/worker/fixtures.ts";

describe("secretsEqual", () => {
  const secret = "test-admin-token-0123456789abcdef";
  it.each([
    ["the same secret", secret, true],
    ["an empty candidate", "", false],
    ["a prefix", secret.slice(0, -1), false],
    ["the secret plus a character", `${secret}x`, false],
    ["one character changed", `${secret.slice(0, -1)}0`, false],
    ["another case", secret.toUpperCase(), false],
    ["much longer input", secret.repeat(1_000), false],
    ["non-ASCII input", `${secret.slice(0, -1)}é`, false],
  ])("%s → %s", async (_, candidate, expected) => {
    expect(await secretsEqual(candidate, secret)).toBe(expected);
  });

  it("admits nobody when the configured token is missing or too short", async () => {
    expect(await isAdminBearer("Bearer short", "short")).toBe(false);
    expect(await isAdminBearer("Bearer ", "")).toBe(false);
    expect(await isAdminBearer(`Bearer ${env.ADMIN_TOKEN}`, env.ADMIN_TOKEN)).toBe(true);
  });
});

describe("the explain trace on /v1/decide", () => {
  it("needs exactly the admin token", async () => {
    await publishRules();
    const call = (authorization?: string) =>
      request("/v1/decide?path=/&explain=1", { headers: authorization === undefined ? {} : { authorization } });
    expect((await call(`Bearer ${env.ADMIN_TOKEN}`)).status).toBe(200);
    for (const wrong of [
      undefined,
      "Bearer ",
      `Bearer ${env.ADMIN_TOKEN.slice(0, -1)}`,
      `Bearer ${env.ADMIN_TOKEN}x`,
      `bearer${env.ADMIN_TOKEN}`,
      env.ADMIN_TOKEN,
    ]) {
      expect((await call(wrong)).status, String(wrong)).toBe(403);
    }
  });
});
