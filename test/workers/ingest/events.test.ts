/**
 * `POST /v1/events` and the privacy endpoints, through the Worker as a browser would use them.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { recallExposures, rememberExposures } from "../../../durable-objects/exposure-memory.ts";
import { pseudonymFor } from "../../../workers/common/visitor.ts";
import {
  eventually,
  exported,
  identify,
  identityProof,
  kafkaRecords,
  newVisitor,
  postEvents,
  publishRules,
  request,
  track,
  visitorCookieFrom,
} from "../../support/worker/fixtures.ts";

async function problem(
  response: Response,
): Promise<{ type: string; title: string; status: number; detail?: string; errors?: { pointer: string }[] }> {
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  return (await response.json()) as { type: string; title: string; status: number; detail?: string; errors?: { pointer: string }[] };
}

function raw(body: BodyInit, headers: Record<string, string>): Promise<Response> {
  return request("/v1/events", { method: "POST", headers, body });
}

describe("accepting events", () => {
  it("answers 202 with counts, sets the visitor cookie once, and records the events", async () => {
    const first = await postEvents({
      batch: [
        track("Product Viewed", { product_id: "el-01", category: "electronics" }),
        { type: "page", messageId: `p-${crypto.randomUUID()}` },
      ],
    });
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ accepted: 2, duplicates: 0 });
    const cookie = visitorCookieFrom(first) ?? "";
    const second = await postEvents(track("Product Viewed", { product_id: "el-02", category: "electronics" }), cookie);
    expect(visitorCookieFrom(second)).toBeNull();
    const profile = await exported(cookie);
    expect(profile.events.map((event) => event.productId)).toEqual(["el-01", null, "el-02"]);
  });

  it("counts a retried batch as duplicates and does not apply it twice", async () => {
    const cookie = await newVisitor();
    const batch = {
      batch: [
        track("Product Viewed", { product_id: "od-01", category: "outdoor" }),
        track("Product Added", { product_id: "od-01", price: 30 }),
      ],
    };
    expect(await (await postEvents(batch, cookie)).json()).toEqual({ accepted: 2, duplicates: 0 });
    expect(await (await postEvents(batch, cookie)).json()).toEqual({ accepted: 0, duplicates: 2 });
    const profile = await exported(cookie);
    expect(profile.counts.find((row) => row.metric === "views.category" && row.key === "outdoor")?.count).toBe(1);
    expect(profile.profile.cart).toEqual({ "od-01": { quantity: 1, price: 30, category: null } });
  });

  it("orders and windows by receive time whatever the client clocks say", async () => {
    const cookie = await newVisitor();
    const future = { ...track("Product Viewed", { product_id: "fa-01", category: "fashion" }), timestamp: "2031-01-01T00:00:00Z" };
    const past = { ...track("Product Viewed", { product_id: "fa-02", category: "fashion" }), timestamp: "1999-01-01T00:00:00Z" };
    await postEvents({ batch: [future, past] }, cookie);
    const profile = await exported(cookie);
    const fashion = profile.events.filter((event) => event.category === "fashion");
    expect(fashion.map((event) => event.productId)).toEqual(["fa-01", "fa-02"]);
    expect(fashion.map((event) => event.clientTime)).toEqual(["2031-01-01T00:00:00.000Z", "1999-01-01T00:00:00.000Z"]);
    for (const event of fashion) expect(Math.abs(Date.parse(event.receivedAt) - Date.now())).toBeLessThan(60_000);
    expect(
      profile.minuteCounts
        .filter((row) => row.metric === "views.category" && row.key === "fashion")
        .reduce((sum, row) => sum + row.count, 0),
    ).toBe(2);
  });

  it("forwards accepted events to the events topic by pseudonym, without excluded properties or traits", async () => {
    const cookie = await newVisitor();
    const viewed = track("Product Viewed", { product_id: "el-05", category: "electronics", email: "someone@example.com" });
    const identify = { type: "identify", messageId: `id-${crypto.randomUUID()}`, traits: { email: "someone@example.com", plan: "gold" } };
    await postEvents({ batch: [viewed, identify] }, cookie);
    const records = await eventually(async () => {
      const all = await kafkaRecords(env.KAFKA_TOPIC_EVENTS);
      const mine = all.filter((record) => record.value.id === viewed.messageId || record.value.id === identify.messageId);
      return mine.length === 2 ? mine : undefined;
    });
    const text = JSON.stringify(records);
    expect(text).not.toContain("someone@example.com");
    expect(text).not.toContain(cookie.split("=")[1]);
    expect(records[0]?.key).toBe(records[0]?.value.visitor);
    expect(records.find((record) => record.value.id === viewed.messageId)?.value.properties).toEqual({
      product_id: "el-05",
      category: "electronics",
    });
  });
});

describe("refusing bad input", () => {
  it.each([
    ["wrong content type", () => raw('{"type":"page","messageId":"x"}', { "content-type": "text/plain" }), 415],
    ["malformed JSON", () => raw("{", { "content-type": "application/json" }), 400],
    ["invalid UTF-8", () => raw(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { "content-type": "application/json" }), 400],
    ["a body over the limit", () => raw(`{"batch":[${" ".repeat(300 * 1024)}]}`, { "content-type": "application/json" }), 413],
    [
      "a prototype-polluting key",
      () => raw('{"type":"page","messageId":"x","properties":{"__proto__":{"admin":true}}}', { "content-type": "application/json" }),
      400,
    ],
    [
      "deep nesting",
      () =>
        raw(`{"type":"page","messageId":"x","properties":{"a":${"[".repeat(40)}${"]".repeat(40)}}}`, {
          "content-type": "application/json",
        }),
      400,
    ],
    ["an unknown type", () => postEvents({ type: "purchase", messageId: "x" }), 422],
    ["a batch over 100 events", () => postEvents({ batch: Array.from({ length: 101 }, () => track("Product Viewed")) }), 422],
  ])("refuses %s with an RFC 9457 problem", async (_, send, status) => {
    const response = await send();
    expect(response.status).toBe(status);
    const body = await problem(response);
    expect(body.status).toBe(status);
    expect(body.type).toMatch(/^\/problems\//);
  });

  // Message ids are forwarded upstream unchanged as record ids: one carrying personal data is refused.
  const personalIds = [
    "jane.doe@example.com",
    "order/jane.doe@example.com",
    "jane.doe%40example.com",
    "+49 170 1234567",
    "call-me:+491701234567",
    "(415) 555-0100",
    "203.0.113.5",
    "m-203.0.113.5",
    "2001:db8::1",
    "[2001:db8::1]:443",
  ];

  it.each(personalIds)("refuses a messageId holding personal data: %s", async (messageId) => {
    const response = await postEvents({ batch: [track("Product Viewed"), { ...track("Product Viewed"), messageId }] });
    expect(response.status).toBe(422);
    const body = await problem(response);
    expect(body.errors?.map((error) => error.pointer)).toEqual(["/batch/1/messageId"]);
    expect(JSON.stringify(body)).not.toContain(messageId);
  });

  const ordinaryIds = [
    crypto.randomUUID(),
    "01234567-89ab-4cde-8f01-23456789abcd",
    "ajs-next-1764158400000-4f1c2a",
    "m-2026-11-26T12:00:00Z-7",
    "order-1001-line-2",
    "42",
  ];

  it.each(ordinaryIds)("accepts an ordinary messageId: %s", async (messageId) => {
    const response = await postEvents({ ...track("Product Viewed"), messageId });
    expect(response.status).toBe(202);
  });

  it("points at the offending event and field", async () => {
    const response = await postEvents({ batch: [track("Product Viewed"), { type: "track", event: "Product Viewed" }] });
    expect(response.status).toBe(422);
    const body = await problem(response);
    expect(body.errors?.map((error) => error.pointer)).toContain("/batch/1/messageId");
    expect(body.detail).toContain("/batch/1/messageId");
  });

  it("changes nothing when any event in the batch is invalid", async () => {
    const cookie = await newVisitor();
    await postEvents({ batch: [track("Product Viewed", { product_id: "el-09", category: "electronics" }), { type: "track" }] }, cookie);
    const profile = await exported(cookie);
    expect(profile.events.some((event) => event.productId === "el-09")).toBe(false);
  });

  it("limits each visitor to 120 batches a minute with a 429 problem", async () => {
    const cookie = await newVisitor();
    let limited: Response | undefined;
    // The local limiter counts in fixed one-minute windows, so a run that crosses a minute
    // boundary starts counting again: allow two windows' worth of attempts.
    for (let attempt = 0; attempt < 250 && limited === undefined; attempt++) {
      const response = await postEvents(track("Product Viewed", { product_id: "hm-02", category: "home" }), cookie);
      if (response.status === 429) limited = response;
      else await response.arrayBuffer();
    }
    expect(limited?.status).toBe(429);
    expect(limited?.headers.get("retry-after")).toBe("60");
    const body = limited === undefined ? undefined : await problem(limited);
    expect(body?.title).toBe("Too many requests");
    // Another visitor is not affected.
    expect((await postEvents(track("Product Viewed"))).status).toBe(202);
  });
});

describe("privacy", () => {
  beforeEach(async () => {
    await publishRules();
  });

  it("stores nothing and sets no cookie for a browser sending Global Privacy Control", async () => {
    const response = await request("/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json", "sec-gpc": "1" },
      body: JSON.stringify(track("Product Viewed", { product_id: "el-01", category: "electronics" })),
    });
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ accepted: 0, ignored: 1, reason: "privacy-signal" });
    expect(response.headers.get("set-cookie")).toBeNull();

    const cookie = await newVisitor();
    await request("/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json", dnt: "1", cookie },
      body: JSON.stringify(track("Product Viewed", { product_id: "el-01", category: "electronics" })),
    });
    expect((await exported(cookie)).events.some((event) => event.category === "electronics")).toBe(false);
    const page = await request("/", { headers: { "sec-gpc": "1" } });
    expect(page.headers.get("set-cookie")).toBeNull();
  });

  it("exports everything kept about the visitor, and 404s without a visitor id", async () => {
    const cookie = await newVisitor();
    await postEvents({ type: "identify", messageId: `t-${crypto.randomUUID()}`, traits: { plan: "gold" } }, cookie);
    const profile = await exported(cookie);
    expect(profile.profile.traits).toEqual({ plan: "gold" });
    expect(profile.events).toHaveLength(2);
    expect(profile.retention.idleDays).toBe(30);
    expect((await request("/v1/profile")).status).toBe(404);
  });

  it("erases the visitor on DELETE: storage and remembered exposures gone, cookie expired, homepage back to default", async () => {
    const cookie = await newVisitor();
    await postEvents(track("Product Viewed", { product_id: "el-01", category: "electronics" }), cookie);
    expect(await (await request("/", { headers: { cookie } })).text()).toContain("Still thinking about new tech?");
    const visitor = await pseudonymFor(cookie.split("=")[1] ?? "", env.VISITOR_ID_SECRET);
    await rememberExposures(env, [
      {
        visitor,
        decisionId: crypto.randomUUID(),
        at: new Date().toISOString(),
        assignments: [{ ruleId: "electronics-hero", slot: "hero", experiment: null, variant: null }],
      },
    ]);
    expect((await exported(cookie)).exposures.map((exposure) => exposure.ruleId)).toEqual(["electronics-hero"]);

    const deleted = await request("/v1/profile", { method: "DELETE", headers: { cookie } });
    expect(deleted.status).toBe(204);
    expect(deleted.headers.get("set-cookie")).toMatch(/tailor_vid=;.*Max-Age=0/);

    const after = await exported(cookie);
    expect(after.events).toEqual([]);
    expect(after.counts).toEqual([]);
    expect(after.exposures).toEqual([]);
    expect(await recallExposures(env, [visitor])).toEqual([]);
    expect(await (await request("/", { headers: { cookie } })).text()).toContain("Autumn essentials");
  });
});

describe("identify", () => {
  it("merges each device's anonymous state into the proven user's and keeps following it", async () => {
    const userId = `user-${crypto.randomUUID()}`;
    const laptop = await newVisitor();
    const phone = await newVisitor();
    await postEvents(track("Product Viewed", { product_id: "el-01", category: "electronics" }), laptop);
    const proof = await identityProof(userId);
    const fromLaptopIdentify = await postEvents(identify(userId, { proof, traits: { plan: "gold" } }), laptop);
    expect(await fromLaptopIdentify.json()).toEqual({ accepted: 1, duplicates: 0, linked: true });
    await postEvents(track("Product Viewed", { product_id: "el-02", category: "electronics" }), phone);
    await postEvents(identify(userId, { proof }), phone);
    await postEvents(track("Product Viewed", { product_id: "el-03", category: "electronics" }), laptop);

    const fromLaptop = await exported(laptop);
    const fromPhone = await exported(phone);
    expect(fromPhone).toEqual(fromLaptop);
    const electronics = fromLaptop.counts.find((row) => row.metric === "views.category" && row.key === "electronics");
    expect(electronics?.count).toBe(3);
    expect(fromLaptop.profile.traits).toEqual({ plan: "gold" });
  });
});
