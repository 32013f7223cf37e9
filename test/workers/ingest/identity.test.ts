/**
 * Identity is proven, not claimed: a browser reaches a user's profile only with an identity proof
 * signed by the site's server, and never another user's. Through the Worker, as browsers and an
 * attacker with curl would use it.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ProfileExport } from "../../../shared/profile/export.ts";
import { exported, identify, identityProof, newVisitor, postEvents, request, track } from "../../support/worker/fixtures.ts";

const HOUR = 3_600;
const now = () => Math.floor(Date.now() / 1000);

async function send(body: unknown, cookie: string): Promise<Record<string, unknown>> {
  const response = await postEvents(body, cookie);
  expect(response.status).toBe(202);
  return (await response.json()) as Record<string, unknown>;
}

function erase(cookie: string, body?: unknown): Promise<Response> {
  return request("/v1/profile", {
    method: "DELETE",
    headers: { cookie, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** A user with a proven device holding events and traits: what an attacker is after. */
async function victim(): Promise<{ userId: string; device: string; before: ProfileExport }> {
  const userId = `victim-${crypto.randomUUID()}`;
  const device = await newVisitor();
  const proof = await identityProof(userId);
  expect(await send(identify(userId, { proof, traits: { plan: "gold", email: "victim@example.com" } }), device)).toMatchObject({
    linked: true,
  });
  await send(track("Order Completed", { order_id: "o-1", total: 240 }), device);
  return { userId, device, before: await exported(device) };
}

/** Flips one character in the middle of the proof's signature. */
function altered(proof: string): string {
  const index = proof.length - 10;
  const character = proof[index] === "A" ? "B" : "A";
  return `${proof.slice(0, index)}${character}${proof.slice(index + 1)}`;
}

/** The same signature bytes spelled differently: the last character's two unused bits set. */
function respelled(proof: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const last = alphabet.indexOf(proof.slice(-1));
  return `${proof.slice(0, -1)}${alphabet[last | 1]}`;
}

type Attack = (userId: string) => Promise<Record<string, unknown>[]>;

const OTHER_SECRET = "another-identity-secret-0123456789abcdef";

/** Ways to claim the victim's user id without the site having vouched for this browser. */
const attacks: [string, Attack][] = [
  ["no proof", async (userId) => [identify(userId)]],
  ["an empty proof", async (userId) => [identify(userId, { proof: "" })]],
  ["a made-up proof", async (userId) => [identify(userId, { proof: `${now() + HOUR}.${"A".repeat(43)}` })]],
  ["a proof for another user id", async (userId) => [identify(userId, { proof: await identityProof(`${userId}-attacker`) })]],
  ["an expired proof", async (userId) => [identify(userId, { proof: await identityProof(userId, { expires: now() - 1 }) })]],
  [
    "a proof that expired long ago",
    async (userId) => [identify(userId, { proof: await identityProof(userId, { expires: 1_600_000_000 }) })],
  ],
  [
    "a proof valid for a month",
    async (userId) => [identify(userId, { proof: await identityProof(userId, { expires: now() + 30 * 24 * HOUR }) })],
  ],
  ["a truncated proof", async (userId) => [identify(userId, { proof: (await identityProof(userId)).slice(0, -1) })]],
  ["a proof without its signature", async (userId) => [identify(userId, { proof: (await identityProof(userId)).split(".")[0] })]],
  ["an altered signature", async (userId) => [identify(userId, { proof: altered(await identityProof(userId)) })]],
  ["a respelled signature", async (userId) => [identify(userId, { proof: respelled(await identityProof(userId)) })]],
  ["a padded signature", async (userId) => [identify(userId, { proof: `${await identityProof(userId)}=` })]],
  [
    "a later expiry on a valid signature",
    async (userId) => {
      const [expires, signature] = (await identityProof(userId)).split(".");
      return [identify(userId, { proof: `${Number(expires) + 60}.${signature}` })];
    },
  ],
  [
    "a zero-padded expiry",
    async (userId) => {
      const expires = now() + HOUR;
      const [, signature] = (await identityProof(userId, { expires })).split(".");
      return [identify(userId, { proof: `0${expires}.${signature}` })];
    },
  ],
  ["a proof under another secret", async (userId) => [identify(userId, { proof: await identityProof(userId, { secret: OTHER_SECRET }) })]],
  // A genuine proof, but not where Tailor reads it.
  ["the proof in traits", async (userId) => [identify(userId, { traits: { identity: await identityProof(userId) } })]],
  [
    "the proof at the top level",
    async (userId) => [{ ...identify(userId), identity: await identityProof(userId), userIdSignature: await identityProof(userId) }],
  ],
  [
    "the proof in context.identity",
    async (userId) => [
      { ...identify(userId), context: { identity: await identityProof(userId), tailor: { proof: await identityProof(userId) } } },
    ],
  ],
  [
    "the proof in integrations",
    async (userId) => [{ ...identify(userId), integrations: { tailor: { identity: await identityProof(userId) } } }],
  ],
  [
    "the proof on a track call beside a bare identify",
    async (userId) => [
      identify(userId),
      { ...track("Product Viewed"), userId, context: { tailor: { identity: await identityProof(userId) } } },
    ],
  ],
  ["an alias without proof", async (userId) => [{ type: "alias", userId, previousId: "someone", messageId: `a-${crypto.randomUUID()}` }]],
  [
    "an alias with a proof for another id",
    async (userId) => [
      {
        type: "alias",
        userId,
        messageId: `a-${crypto.randomUUID()}`,
        context: { tailor: { identity: await identityProof(`${userId}-attacker`) } },
      },
    ],
  ],
  // The attacker's own account, named like the victim: the proof is genuine, for that other id.
  ...(
    [
      ["with spaces around it", (id: string) => ` ${id} `],
      ["with a trailing space", (id: string) => `${id} `],
      ["in upper case", (id: string) => id.toUpperCase()],
      ["with a zero-width space", (id: string) => `${id}\u200b`],
      ["with a trailing newline", (id: string) => `${id}\n`],
    ] as const
  ).flatMap(([name, variant]): [string, Attack][] => [
    [
      `the user id ${name}, with a genuine proof for that spelling`,
      async (userId) => [identify(variant(userId), { proof: await identityProof(variant(userId)) })],
    ],
    [
      `the victim's user id with a genuine proof for it ${name}`,
      async (userId) => [identify(userId, { proof: await identityProof(variant(userId)) })],
    ],
  ]),
];

describe("claiming someone else's identity", () => {
  it.each(attacks)("with %s neither reads, adds to nor erases the victim's profile", async (_, attack) => {
    const target = await victim();
    const attacker = await newVisitor();
    const messages = await attack(target.userId);

    const response = await postEvents({ batch: messages }, attacker);
    expect(response.status).toBe(202);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body.accepted).toBe(messages.length);

    const seen = await exported(attacker);
    expect(JSON.stringify(seen)).not.toContain("victim@example.com");
    expect(seen.events.some((event) => event.event === "Order Completed")).toBe(false);

    await send(track("Product Added", { product_id: "evil-1", price: 1 }), attacker);
    expect((await erase(attacker)).status).toBe(204);
    const proofs = messages.map((message) => (message.context as { tailor?: { identity?: string } } | undefined)?.tailor?.identity);
    for (const proof of proofs) {
      if (proof !== undefined) expect((await erase(attacker, { userId: target.userId, identity: proof })).status).toBe(403);
    }

    expect(await exported(target.device)).toEqual(target.before);
  });

  it("says why an unproven identify linked nothing, and keeps its traits on the anonymous visitor", async () => {
    const device = await newVisitor();
    const userId = `user-${crypto.randomUUID()}`;
    expect(await send(identify(userId, { traits: { plan: "silver" } }), device)).toEqual({
      accepted: 1,
      duplicates: 0,
      linked: false,
      reason: "proof-missing",
    });
    expect(await send(identify(userId, { proof: "nonsense" }), device)).toMatchObject({ linked: false, reason: "proof-invalid" });
    const expired = await identityProof(userId, { expires: now() - 60 });
    expect(await send(identify(userId, { proof: expired }), device)).toMatchObject({ linked: false, reason: "proof-expired" });
    const profile = await exported(device);
    expect(profile.profile.traits).toEqual({ plan: "silver" });
    expect(profile.events).toHaveLength(4);

    // The user's other, proven device sees none of it.
    const proven = await newVisitor();
    expect(await send(identify(userId, { proof: await identityProof(userId) }), proven)).toMatchObject({ linked: true });
    expect((await exported(proven)).profile.traits).toEqual({});
  });

  it("links nobody, and still accepts the events, when IDENTITY_SECRET is not set", async () => {
    const userId = `user-${crypto.randomUUID()}`;
    const response = await request(
      "/v1/events",
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(identify(userId, { proof: await identityProof(userId) })),
      },
      { IDENTITY_SECRET: "" },
    );
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ accepted: 1, duplicates: 0, linked: false, reason: "identity-not-configured" });
  });
});

describe("a proven link", () => {
  it("relinks a browser that proves it is another user: the first user keeps their data and is no longer reachable", async () => {
    const first = await victim();
    const secondUser = `user-${crypto.randomUUID()}`;
    const response = await postEvents(identify(secondUser, { proof: await identityProof(secondUser) }), first.device);
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ accepted: 1, duplicates: 0, linked: true, relinked: true });
    await send(track("Product Viewed", { product_id: "el-77", category: "electronics" }), first.device);

    const current = await exported(first.device);
    expect(JSON.stringify(current)).not.toContain("victim@example.com");
    expect(current.events.map((event) => event.productId)).toContain("el-77");

    // The first user's profile, seen from their other proven device, is as it was.
    const other = await newVisitor();
    expect(await send(identify(first.userId, { proof: await identityProof(first.userId) }), other)).toMatchObject({ linked: true });
    const firstProfile = await exported(other);
    expect(firstProfile.profile.traits).toEqual(first.before.profile.traits);
    expect(firstProfile.events.map((event) => event.productId)).not.toContain("el-77");
  });

  it("links with a proven alias too", async () => {
    const device = await newVisitor();
    const userId = `user-${crypto.randomUUID()}`;
    const alias = {
      type: "alias",
      userId,
      previousId: "old-id",
      messageId: `a-${crypto.randomUUID()}`,
      context: { tailor: { identity: await identityProof(userId) } },
    };
    expect(await send(alias, device)).toMatchObject({ accepted: 1, linked: true });
  });
});

describe("erasure of a linked browser", () => {
  it("without proof forgets only the browser's link, never the user's profile", async () => {
    const target = await victim();
    const other = await newVisitor();
    await send(identify(target.userId, { proof: await identityProof(target.userId) }), other);
    const before = await exported(other);

    const response = await erase(target.device);
    expect(response.status).toBe(204);
    expect(response.headers.get("tailor-erased")).toBe("device");
    expect(await exported(other)).toEqual(before);
    // The erased browser is a stranger again.
    expect((await exported(target.device)).events).toEqual([]);
  });

  it("with a proof for its own user erases the user's profile for every device", async () => {
    const target = await victim();
    const other = await newVisitor();
    await send(identify(target.userId, { proof: await identityProof(target.userId) }), other);

    const response = await erase(target.device, { userId: target.userId, identity: await identityProof(target.userId) });
    expect(response.status).toBe(204);
    expect(response.headers.get("tailor-erased")).toBe("user");
    const after = await exported(other);
    expect(after.events).toEqual([]);
    expect(after.profile.traits).toEqual({});
  });

  it("with a genuine proof for another user erases nothing (403), from a linked or an anonymous browser", async () => {
    const target = await victim();
    const attacker = await victim();
    const stranger = await newVisitor();
    const proof = await identityProof(target.userId);
    for (const cookie of [attacker.device, stranger]) {
      const response = await erase(cookie, { userId: target.userId, identity: proof });
      expect(response.status).toBe(403);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
    }
    expect(await exported(target.device)).toEqual(target.before);
    expect(await exported(attacker.device)).toEqual(attacker.before);
  });

  it.each([
    ["not JSON", "{", 400],
    ["an unknown field", JSON.stringify({ userId: "u", identity: "1.x", admin: true }), 422],
    ["a missing proof", JSON.stringify({ userId: "u" }), 422],
  ])("refuses a body with %s and erases nothing", async (_, body, status) => {
    const target = await victim();
    const response = await request("/v1/profile", {
      method: "DELETE",
      headers: { cookie: target.device, "content-type": "application/json" },
      body,
    });
    expect(response.status).toBe(status);
    expect(await exported(target.device)).toEqual(target.before);
  });
});

describe("payloads from Segment and RudderStack libraries", () => {
  it.each([
    [
      "an anonymous Segment page call (userId null)",
      {
        type: "page",
        anonymousId: "5b0b2e36-6b8c-4a7b-9f0d-6f3b7d1a2c11",
        userId: null,
        messageId: "ajs-next-1700000000000-5b0b2e36",
        timestamp: "2026-01-01T10:00:00.000Z",
        sentAt: "2026-01-01T10:00:00.050Z",
        properties: { path: "/", title: "Shop", url: "https://shop.test/" },
        context: { library: { name: "analytics.js", version: "next-1.70.0" }, page: { path: "/" }, userAgent: "x", locale: "en-US" },
        integrations: {},
        writeKey: "abc",
      },
    ],
    [
      "an anonymous Segment track call (no userId at all)",
      {
        type: "track",
        event: "Product Viewed",
        anonymousId: "a-1",
        messageId: `m-${crypto.randomUUID()}`,
        properties: { product_id: "p1" },
      },
    ],
    [
      "an anonymous RudderStack track call (userId empty)",
      {
        type: "track",
        event: "Product Viewed",
        anonymousId: "8d872292709c6fbe",
        userId: "",
        channel: "web",
        rudderId: "8f8fa740-0000-0000-0000-000000000000",
        messageId: "0bab70e8-0858-4ca3-b0e1-6f5ec3a9c3b1",
        originalTimestamp: "2026-01-01T10:00:00.000Z",
        sentAt: "2026-01-01T10:00:00.100Z",
        properties: { product_id: "p1", category: "home" },
        context: { library: { name: "RudderLabs JavaScript SDK", version: "3.0.0" }, traits: {}, locale: "en-US" },
        integrations: { All: true },
      },
    ],
    [
      "an anonymous identify (userId null, traits only)",
      { type: "identify", userId: null, anonymousId: "a-2", messageId: `m-${crypto.randomUUID()}`, traits: { plan: "free" } },
    ],
  ])("accepts %s", async (_, message) => {
    const cookie = await newVisitor();
    const response = await postEvents(message, cookie);
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ accepted: 1, duplicates: 0 });
  });

  it("accepts screen, group and alias: a screen counts as a page view, group traits stay off the visitor", async () => {
    const cookie = await newVisitor();
    const body = await send(
      {
        batch: [
          { type: "screen", name: "Home", messageId: `s-${crypto.randomUUID()}`, properties: { path: "/home" } },
          { type: "group", groupId: "acme", messageId: `g-${crypto.randomUUID()}`, traits: { name: "Acme", category: "b2b" } },
          { type: "alias", userId: "someone", previousId: "anon", messageId: `a-${crypto.randomUUID()}` },
        ],
      },
      cookie,
    );
    expect(body).toEqual({ accepted: 3, duplicates: 0, linked: false, reason: "proof-missing" });
    const profile = await exported(cookie);
    expect(profile.events.map((event) => event.type)).toEqual(["track", "screen", "group", "alias"]);
    expect(profile.counts.find((row) => row.metric === "pages.total")?.count).toBe(1);
    expect(profile.profile.traits).toEqual({});
    expect(profile.profile.lastCategory).toBe("home");
  });
});

it("keeps the test secret distinct from the other secrets", () => {
  expect(env.IDENTITY_SECRET).not.toBe(env.VISITOR_ID_SECRET);
  expect(env.IDENTITY_SECRET.length).toBeGreaterThanOrEqual(32);
});
