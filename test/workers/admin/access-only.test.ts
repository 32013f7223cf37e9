/**
 * `ADMIN_AUTH = "access-only"`: with Cloudflare Access in front, the admin token and the editor's
 * sign-in cookie open nothing (the API, the editor, the decision trace), sign-in is closed, and
 * only Access assertions get in — a person's, or a service token's for the command-line tools.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import demoRules from "../../../demo-shop/rules.json";
import { accessClaims, accessSettings, signAccessToken } from "../../support/worker/access.ts";
import { publishRules, request } from "../../support/worker/fixtures.ts";

const ACCESS_ONLY = { ...accessSettings(), ADMIN_AUTH: "access-only" } as Partial<Env>;
const BEARER = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

/** Signs in through the form in the default mode; the session cookie (`name=value`). */
async function signedInCookie(): Promise<string> {
  const response = await request("/admin/login", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "same-origin", "cf-connecting-ip": "192.0.2.77" },
    body: new URLSearchParams({ name: "Maria", token: env.ADMIN_TOKEN }).toString(),
  });
  expect(response.status).toBe(303);
  return (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
}

/** A service token's assertion: Access names the token by its client id (`common_name`), no e-mail. */
function serviceTokenAssertion(): Promise<string> {
  const { email: _, ...claims } = accessClaims();
  return signAccessToken({ ...claims, common_name: "0123abcd.access", sub: "" });
}

const READS = ["/admin/api/rules", "/admin/api/rules/versions", "/admin/api/audit", "/admin/api/dead-letters"];

beforeEach(async () => {
  await publishRules();
});

describe("ADMIN_AUTH = access-only", () => {
  it.each(READS)("GET %s: the admin token is refused, in any spelling", async (path) => {
    for (const authorization of [`Bearer ${env.ADMIN_TOKEN}`, `bearer ${env.ADMIN_TOKEN}`, `Bearer  ${env.ADMIN_TOKEN} `]) {
      const response = await request(path, { headers: { authorization } }, ACCESS_ONLY);
      expect(response.status).toBe(401);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
    }
  });

  it("a change with the admin token is refused and changes nothing", async () => {
    const before = await (await request("/admin/api/rules/versions", { headers: BEARER })).text();
    const response = await request(
      "/admin/api/rules",
      {
        method: "POST",
        headers: { ...BEARER, "content-type": "application/json" },
        body: JSON.stringify({ document: demoRules, message: "token" }),
      },
      ACCESS_ONLY,
    );
    expect(response.status).toBe(401);
    expect(await (await request("/admin/api/rules/versions", { headers: BEARER })).text()).toBe(before);
  });

  it("an editor session cookie opened before the switch opens nothing", async () => {
    const cookie = await signedInCookie();
    expect((await request("/admin/api/rules", { headers: { cookie } })).status).toBe(200);
    for (const path of READS) expect((await request(path, { headers: { cookie } }, ACCESS_ONLY)).status).toBe(401);
    const page = await request("/admin", { headers: { cookie, accept: "text/html" } }, ACCESS_ONLY);
    expect(page.status).toBe(401);
    expect(page.headers.get("location")).toBeNull();
  });

  it("sign-in is closed: no form, and posting the token opens no session", async () => {
    expect((await request("/admin/login", { headers: { accept: "text/html" } }, ACCESS_ONLY)).status).toBe(404);
    const posted = await request(
      "/admin/login",
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "same-origin" },
        body: new URLSearchParams({ name: "Maria", token: env.ADMIN_TOKEN }).toString(),
      },
      ACCESS_ONLY,
    );
    expect(posted.status).toBe(404);
    expect(posted.headers.get("set-cookie")).toBeNull();
  });

  it("the decision trace is not opened by the admin token", async () => {
    const response = await request("/v1/decide?path=/&explain=1", { headers: BEARER }, ACCESS_ONLY);
    expect(response.status).toBe(403);
  });

  it("a person's Access assertion gets in", async () => {
    const assertion = await signAccessToken(accessClaims("marketer@shop.example"));
    expect((await request("/admin/api/rules", { headers: { "cf-access-jwt-assertion": assertion } }, ACCESS_ONLY)).status).toBe(200);
  });

  it("a service token's assertion gets in, and the audit log names the token", async () => {
    const headers = { "cf-access-jwt-assertion": await serviceTokenAssertion(), "content-type": "application/json" };
    const published = await request(
      "/admin/api/rules",
      { method: "POST", headers, body: JSON.stringify({ document: demoRules, message: "from CI" }) },
      ACCESS_ONLY,
    );
    expect(published.status).toBe(201);
    const audit = await (await request("/admin/api/audit", { headers }, ACCESS_ONLY)).text();
    expect(audit).toContain("service-token 0123abcd.access");
  });

  it("the default mode still takes the token (control)", async () => {
    expect((await request("/admin/api/rules", { headers: BEARER })).status).toBe(200);
    expect((await request("/admin/api/rules", { headers: BEARER }, accessSettings())).status).toBe(200);
  });
});
