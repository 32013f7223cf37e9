/**
 * `PUT /admin/api/models/:key`: the one way to put a model pages will use. Only an admin may, a
 * signed-in editor only from Tailor's own page with its CSRF token; a bad key, a bad model or an
 * oversized body is a 4xx problem and stores nothing; a taken key is kept unless replaced on
 * purpose; what is stored is signed, audited, and then used by the page.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Model } from "../../../shared/rules/document.ts";
import { verifyStoredValue } from "../../../shared/rules/signature.ts";
import { MAX_MODEL_BYTES } from "../../../workers/admin/api.ts";
import { recommendationsFrom } from "../../support/slot-documents.ts";
import { signIn } from "../../support/worker/admin-session.ts";
import { publishRules, request } from "../../support/worker/fixtures.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" };
const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0" };

const MODEL: Model = {
  type: "itemToItem",
  related: {},
  items: { s1: { name: "Published pick", url: "/p/el-01" } },
  fallback: ["s1"],
};

function freshKey(): string {
  return `models:related:admin-test-${crypto.randomUUID().slice(0, 8)}`;
}

function put(key: string, body: unknown, headers: Record<string, string> = ADMIN, query = ""): Promise<Response> {
  return request(`/admin/api/models/${encodeURIComponent(key)}${query}`, {
    method: "PUT",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function problem(response: Response): Promise<{ type: string; detail?: string; errors?: unknown[] }> {
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  return (await response.json()) as { type: string; detail?: string; errors?: unknown[] };
}

describe("who may publish a model", () => {
  it("refuses anyone without credentials, and stores nothing", async () => {
    const key = freshKey();
    for (const headers of [{ "content-type": "application/json" }, { ...ADMIN, authorization: "Bearer not-the-token" }]) {
      const response = await put(key, MODEL, headers);
      expect(response.status).toBe(401);
      await problem(response);
    }
    expect(await env.RULES.get(key)).toBeNull();
  });

  it("refuses a signed-in editor without the page's CSRF token, or from another site", async () => {
    const session = await signIn("Maria", "192.0.2.71");
    const key = freshKey();
    const attempts: Record<string, string>[] = [
      { cookie: session.cookie, "content-type": "application/json", "sec-fetch-site": "same-origin" },
      { cookie: session.cookie, "content-type": "application/json", "x-csrf-token": "forged", "sec-fetch-site": "same-origin" },
      { cookie: session.cookie, "content-type": "application/json", "x-csrf-token": session.csrf, "sec-fetch-site": "cross-site" },
      { cookie: session.cookie, "content-type": "application/json", "x-csrf-token": session.csrf, origin: "https://evil.example" },
    ];
    for (const headers of attempts) expect((await put(key, MODEL, headers)).status).toBe(403);
    expect(await env.RULES.get(key)).toBeNull();
    const allowed = await put(key, MODEL, {
      cookie: session.cookie,
      "content-type": "application/json",
      "x-csrf-token": session.csrf,
      "sec-fetch-site": "same-origin",
    });
    expect(allowed.status).toBe(201);
  });
});

describe("what a publish refuses", () => {
  it.each([
    "related:v1",
    "models:",
    "models:Related",
    "models:related v1",
    "models:related/v1",
    "models:related.v1",
    "models:é",
    `models:${"a".repeat(121)}`,
    "rules:version:1",
    "rules:live",
    "models:a%b",
    "models:a;b",
  ])("a key that is not a model key: %j", async (key) => {
    const response = await put(key, MODEL);
    expect(response.status, await response.clone().text()).toBe(400);
    expect((await problem(response)).type).toBe("/problems/invalid-model-key");
    expect(await env.RULES.get(key)).toBeNull();
  });

  it.each<[string, unknown]>([
    ["an empty object", {}],
    ["an array", [MODEL]],
    ["an unknown type", { ...MODEL, type: "neural" }],
    ["an unknown field", { ...MODEL, script: "<script>" }],
    ["a javascript: item URL", { ...MODEL, items: { s1: { name: "x", url: "javascript:alert(1)" } } }],
    ["an entity-encoded javascript: URL", { ...MODEL, items: { s1: { name: "x", url: "jav&#x61;script:alert(1)" } } }],
    ["a data: item URL", { ...MODEL, items: { s1: { name: "x", url: "data:text/html,<script>alert(1)</script>" } } }],
    ["an over-long name", { ...MODEL, items: { s1: { name: "x".repeat(201), url: "/p/x" } } }],
    ["a logistic model without an intercept", { type: "logistic", weights: {} }],
    ["a logistic weight that is not a number", { type: "logistic", intercept: 0, weights: { a: "1" } }],
    [
      "too many weights",
      { type: "logistic", intercept: 0, weights: Object.fromEntries(Array.from({ length: 201 }, (_, index) => [`w${index}`, 1])) },
    ],
  ])("a model that is not valid, with each mismatch: %s", async (_name, body) => {
    const key = freshKey();
    const response = await put(key, body);
    expect(response.status).toBe(422);
    const answer = await problem(response);
    expect(answer.type).toBe("/problems/invalid-request");
    expect(answer.errors?.length).toBeGreaterThan(0);
    expect(await env.RULES.get(key)).toBeNull();
  });

  it.each<[string, string, number]>([
    ["not JSON", "{type: itemToItem", 400],
    ["nested deeper than the admin accepts", `${"[".repeat(40)}${"]".repeat(40)}`, 400],
    ["over the size limit", JSON.stringify({ ...MODEL, description: "x".repeat(MAX_MODEL_BYTES) }), 413],
  ])("a body %s", async (_name, body, status) => {
    const key = freshKey();
    const response = await put(key, body);
    expect(response.status).toBe(status);
    await problem(response);
    expect(await env.RULES.get(key)).toBeNull();
  });

  it("a key that is taken, unless replace=1 says so", async () => {
    const key = freshKey();
    expect((await put(key, MODEL)).status).toBe(201);
    const taken = await put(key, { ...MODEL, items: { s1: { name: "Second", url: "/p/el-02" } } });
    expect(taken.status).toBe(409);
    expect((await problem(taken)).type).toBe("/problems/model-exists");
    expect(await env.RULES.get(key)).toContain("Published pick");

    const replaced = await put(key, { ...MODEL, items: { s1: { name: "Second", url: "/p/el-02" } } }, ADMIN, "?replace=1");
    expect(replaced.status).toBe(201);
    expect(await replaced.json()).toMatchObject({ key, replaced: true });
    expect(await env.RULES.get(key)).toContain("Second");
  });
});

describe("a published model", () => {
  it("is stored signed over its key and bytes, audited, and used by the page", async () => {
    const key = freshKey();
    const response = await put(key, MODEL, { ...ADMIN, "x-tailor-actor": "Ops" });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ key, type: "itemToItem", replaced: false });

    const { value, metadata } = await env.RULES.getWithMetadata<{ signature?: string; author?: string }>(key, "text");
    if (value === null) throw new Error("nothing stored");
    expect(JSON.parse(value)).toEqual(MODEL);
    expect(metadata?.author).toBe("Ops (admin token)");
    expect(await verifyStoredValue(env.RULES_SIGNING_KEY, key, value, metadata?.signature)).toBe(true);

    const audit = (await (await request("/admin/api/audit", { headers: ADMIN })).json()) as {
      entries: { actor: string; action: string; detail: string }[];
    };
    expect(audit.entries[0]).toMatchObject({ actor: "Ops (admin token)", action: "publish-model" });
    expect(audit.entries[0]?.detail).toContain(key);

    await publishRules(recommendationsFrom(key));
    const page = await request("/", { headers: BROWSER });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<a class="pick" href="/p/el-01">Published pick</a>');
    expect(page.headers.get("server-timing")).not.toContain("model-missing");
  });
});
