/**
 * The two built Workers as deployed (the visitors' Worker and the admin Worker behind its ADMIN
 * service binding, on one Miniflare): `/admin` on the one hostname is the admin Worker; what it
 * publishes is signed and serves visitors; the same document put straight into KV does not, nor
 * does a model put straight into KV, while one published through `PUT /admin/api/models/:key` is used.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import rules from "../../demo-shop/rules.json" with { type: "json" };
import { recommendationsFrom } from "../support/slot-documents.ts";
import { type System, startSystem, waitUntil } from "../support/system.ts";

const BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36";

describe("the visitors' Worker and the admin Worker", () => {
  let system: System;
  beforeAll(async () => {
    system = await startSystem(rules, { RULES_REFRESH_MS: "0" });
  }, 180_000);
  afterAll(async () => {
    await system?.close();
  });

  const admin = (path: string, init: RequestInit = {}) =>
    fetch(`${system.tailor.url}${path}`, {
      ...init,
      redirect: "manual",
      headers: { authorization: `Bearer ${system.adminToken}`, "content-type": "application/json", ...init.headers },
    });
  const liveVersion = async () =>
    (
      (await (await fetch(`${system.tailor.url}/v1/decide?path=/`, { headers: { "user-agent": BROWSER } })).json()) as {
        rulesVersion?: number;
      }
    ).rulesVersion;

  it("answers /admin from the admin Worker, redirects left to the browser", async () => {
    const openApi = await admin("/admin/api/openapi.json");
    expect(openApi.status).toBe(200);
    expect(((await openApi.json()) as { openapi?: string }).openapi).toMatch(/^3\./);
    const signIn = await fetch(`${system.tailor.url}/admin`, { redirect: "manual", headers: { accept: "text/html" } });
    expect([signIn.status, signIn.headers.get("location")]).toEqual([303, "/admin/login"]);
  });

  it("serves what the admin publishes, and refuses the same document written into KV past the publish", async () => {
    expect(await liveVersion()).toBe(rules.version);
    const published = await admin("/admin/api/rules", {
      method: "POST",
      body: JSON.stringify({ document: rules, message: "system test" }),
    });
    expect(published.status).toBe(201);
    const { version } = (await published.json()) as { version: number };
    expect(await waitUntil(async () => (await liveVersion()) === version, 60_000)).toBe(true);

    const kv = await system.tailor.miniflare.getKVNamespace("RULES");
    const forged = version + 1;
    await kv.put(`rules:version:${forged}`, JSON.stringify({ ...rules, version: forged }));
    await kv.put("rules:live", JSON.stringify({ version: forged }));
    // Pages keep the published version while the pointer names the unsigned one; the admin says why.
    const refusedSeen = await waitUntil(async () => {
      await liveVersion();
      const body = (await (await admin("/admin/api/rules")).json()) as { refused: { version: number } | null };
      return body.refused?.version === forged;
    }, 180_000);
    expect(refusedSeen).toBe(true);
    for (let page = 0; page < 5; page++) expect(await liveVersion()).toBe(version);
  });

  it("uses a model the admin publishes, and refuses the same model written into KV past the publish", async () => {
    const model = { type: "itemToItem", related: {}, items: { s1: { name: "System pick", url: "/p/el-01" } }, fallback: ["s1"] };
    const homepageOnceLive = async (key: string) => {
      const published = await admin("/admin/api/rules", {
        method: "POST",
        body: JSON.stringify({ document: recommendationsFrom(key), message: `system test: ${key}` }),
      });
      expect(published.status).toBe(201);
      const { version } = (await published.json()) as { version: number };
      expect(await waitUntil(async () => (await liveVersion()) === version, 60_000)).toBe(true);
      const page = await fetch(`${system.tailor.url}/`, { headers: { "user-agent": BROWSER } });
      return { html: await page.text(), timing: page.headers.get("server-timing") ?? "" };
    };

    const signedKey = "models:related:system-signed";
    const put = await admin(`/admin/api/models/${encodeURIComponent(signedKey)}`, { method: "PUT", body: JSON.stringify(model) });
    expect(put.status).toBe(201);
    const signed = await homepageOnceLive(signedKey);
    expect(signed.html).toContain('<a class="pick" href="/p/el-01">System pick</a>');

    const kv = await system.tailor.miniflare.getKVNamespace("RULES");
    const unsignedKey = "models:related:system-unsigned";
    await kv.put(unsignedKey, JSON.stringify(model));
    const refused = await homepageOnceLive(unsignedKey);
    expect(refused.html).not.toContain("System pick");
    expect(refused.timing).toContain('fallback;desc="model-missing:related"');
  });
});
