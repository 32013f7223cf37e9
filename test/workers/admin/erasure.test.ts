/**
 * Erasure by user id from the admin API (a request that reached the shop by e-mail): the user's
 * state is gone for every browser linked to them, nobody else's is touched, only admins can do it,
 * and the audit log shows it without the user id in clear.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { recallExposures, rememberExposures } from "../../../durable-objects/exposure-memory.ts";
import { pseudonymFor } from "../../../workers/common/visitor.ts";
import { accessSettings } from "../../support/worker/access.ts";
import { exported, identify, identityProof, newVisitor, postEvents, request, track } from "../../support/worker/fixtures.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" };

/** A browser linked to `userId` (by a valid identity proof) that has recorded one more event. */
async function linkedBrowser(userId: string): Promise<string> {
  const cookie = await newVisitor();
  const linked = await postEvents(
    { batch: [identify(userId, { proof: await identityProof(userId) }), track("Product Added", { product_id: "p-9" })] },
    cookie,
  );
  expect(linked.status).toBe(202);
  expect(await linked.json()).toMatchObject({ linked: true });
  return cookie;
}

function erase(body: unknown, headers: Record<string, string> = ADMIN, overrides: Partial<Env> = {}): Promise<Response> {
  return request(
    "/admin/api/users/erase",
    { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) },
    overrides,
  );
}

/** A browser linked to `userId` after it was linked to another user first (a shared computer). */
async function relinkedBrowser(userId: string): Promise<string> {
  const cookie = await linkedBrowser(`before-${crypto.randomUUID()}`);
  const relinked = await postEvents({ batch: [identify(userId, { proof: await identityProof(userId) })] }, cookie);
  expect(await relinked.json()).toMatchObject({ linked: true, relinked: true });
  return cookie;
}

/** Ways a browser comes to be linked to the user erased. */
const LINKED: [string, (userId: string) => Promise<string>][] = [
  ["a browser linked with a proof", linkedBrowser],
  ["a browser relinked from another user", relinkedBrowser],
];

function pseudonymOf(cookie: string): Promise<string> {
  return pseudonymFor(cookie.replace(/^tailor_vid=/, ""), env.VISITOR_ID_SECRET);
}

describe("POST /admin/api/users/erase", () => {
  it.each(LINKED)("unlinks %s and forgets its exposures: its next event, without a proof, rebuilds nothing", async (_, link) => {
    const userId = `unlink-me-${crypto.randomUUID()}`;
    const cookie = await link(userId);
    const browser = await pseudonymOf(cookie);
    await rememberExposures(env, [
      {
        visitor: browser,
        decisionId: crypto.randomUUID(),
        at: new Date().toISOString(),
        assignments: [{ ruleId: "hero", slot: "hero", experiment: "hero_test", variant: "bold" }],
      },
    ]);

    const { subject } = (await (await erase({ userId })).json()) as { subject: string };
    expect(await recallExposures(env, [browser])).toEqual([]);

    const later = await postEvents(track("Product Viewed", { product_id: "after-erase", category: "home" }), cookie);
    expect(later.status).toBe(202);
    // The browser starts afresh on its own; the erased user's object stays empty.
    expect((await exported(cookie)).events.map((event) => event.productId)).toEqual(["after-erase"]);
    const user = JSON.parse(await env.USER_SESSION.getByName(subject).exportProfile([subject])) as { events: unknown[] };
    expect(user.events).toEqual([]);
  });

  it("erases the user's state for every linked browser, and nobody else's", async () => {
    const userId = `erase-me-${crypto.randomUUID()}@shop.example`;
    const phone = await linkedBrowser(userId);
    const laptop = await linkedBrowser(userId);
    const bystander = await linkedBrowser(`keep-me-${crypto.randomUUID()}`);
    expect((await exported(phone)).events.length).toBeGreaterThan(0);
    const bystanderBefore = (await exported(bystander)).events.length;

    const response = await erase({ userId });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ erased: true });

    for (const cookie of [phone, laptop]) expect((await exported(cookie)).events).toEqual([]);
    expect((await exported(bystander)).events).toHaveLength(bystanderBefore);
  });

  it("records the erasure in the audit log without the user id in clear", async () => {
    const userId = `audited-${crypto.randomUUID()}`;
    await linkedBrowser(userId);
    const { subject } = (await (await erase({ userId })).json()) as { subject: string };
    const audit = await (await request("/admin/api/audit", { headers: ADMIN })).text();
    expect(audit).toContain("erase-user");
    expect(audit).toContain(subject);
    expect(audit).not.toContain(userId);
  });

  it.each([
    ["no credentials", { "content-type": "application/json" }, {}],
    ["a wrong token", { authorization: "Bearer not-the-admin-token-0123456789abcdef", "content-type": "application/json" }, {}],
    ["the admin token where only Access is allowed", ADMIN, { ...accessSettings(), ADMIN_AUTH: "access-only" }],
  ] as const)("refuses %s and erases nothing", async (_, headers, overrides) => {
    const userId = `protected-${crypto.randomUUID()}`;
    const cookie = await linkedBrowser(userId);
    const before = (await exported(cookie)).events.length;
    const response = await erase({ userId }, { ...headers }, overrides as Partial<Env>);
    expect(response.status).toBe(401);
    expect((await exported(cookie)).events).toHaveLength(before);
  });

  it.each([
    ["an empty user id", { userId: "" }],
    ["a user id too long", { userId: "x".repeat(129) }],
    ["a number", { userId: 42 }],
    ["extra fields", { userId: "u", everyone: true }],
    ["no user id", {}],
    ["an array", [{ userId: "u" }]],
    ["not JSON", "userId=u"],
  ])("answers %s with a 4xx problem", async (_, body) => {
    const response = await erase(body);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
  });
});
