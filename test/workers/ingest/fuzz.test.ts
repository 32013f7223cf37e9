/**
 * Hostile input at `POST /v1/events`: generated malformed payloads of every kind must get a 4xx
 * problem, never a 5xx, and must leave every visitor's state untouched. The generator is seeded;
 * the seed is printed so a failure can be replayed with TEST_SEED=<seed>.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import type { ProfileExport } from "../../../shared/profile/export.ts";
import { pseudonymFor } from "../../../workers/common/visitor.ts";
import { type Random, seededRandom, seedForRun } from "../../support/random.ts";
import { postEvents, request, track, visitorCookieFrom } from "../../support/worker/fixtures.ts";

const CASES = 1_200;
const SEED = seedForRun();

interface Payload {
  kind: string;
  body: BodyInit;
  contentType: string | null;
}

const encoder = new TextEncoder();

function generator(next: Random) {
  const { pick, int } = next;
  const valid = () => ({
    type: "track",
    event: "Product Viewed",
    messageId: `fz-${int(1e9)}`,
    properties: { category: "electronics", product_id: "el-01" },
  });
  const json = (value: unknown, kind: string): Payload => ({ kind, body: JSON.stringify(value), contentType: "application/json" });
  const wrongValues = [42, -1, 3.5, true, null, [], {}, [1, 2], { nested: true }];
  const fields = ["type", "event", "messageId", "properties", "timestamp", "userId", "anonymousId", "traits", "context"];
  const deep = (depth: number, key: string) => `${`{"${key}":`.repeat(depth)}1${"}".repeat(depth)}`;

  const makers: (() => Payload)[] = [
    // wrong types in a field
    () => {
      const message: Record<string, unknown> = valid();
      const field = pick(fields);
      const value = pick(wrongValues);
      message[field] = field === "properties" || field === "traits" || field === "context" ? pick([42, "x", true, [1]]) : value;
      if (field === "timestamp") message[field] = pick(["yesterday", 17, "2026-13-45T99:00:00Z", ""]);
      // An empty userId is how RudderStack says "anonymous", so it is not hostile.
      if (field === "userId") message[field] = pick([12, {}, "x".repeat(500)]);
      if (field === "anonymousId") message[field] = pick(["", 12, {}, "x".repeat(500)]);
      // Only identify calls carry traits; elsewhere an unknown field is dropped, not refused.
      if (field === "traits") message.type = "identify";
      return json(pick([message, { batch: [valid(), message] }]), `wrong type: ${field}`);
    },
    // the envelope itself is wrong
    () =>
      json(
        pick([
          null,
          1,
          "events",
          [],
          [valid()],
          { batch: [] },
          { batch: {} },
          { batch: "x" },
          { batch: Array.from({ length: 101 + int(50) }, valid) },
        ]),
        "bad envelope",
      ),
    // huge strings
    () => {
      const message: Record<string, unknown> = valid();
      const field = pick(["event", "messageId", "name", "category"]);
      const size = pick([3_000, 5_000, 100_000, 400_000]);
      if (field === "category") message.properties = { category: "c".repeat(size) };
      else message[field] = "x".repeat(size);
      if (field === "name") message.type = "page";
      return json(message, `huge ${field}`);
    },
    // deep nesting, in properties or at the top
    () => {
      const depth = 17 + int(3_000);
      const where = pick(["properties", "traits", "top"]);
      const text = where === "top" ? deep(depth, "batch") : `{"type":"track","event":"x","messageId":"m","${where}":${deep(depth, "a")}}`;
      return { kind: `deep ${where}`, body: text, contentType: "application/json" };
    },
    // prototype pollution keys anywhere
    () => {
      const key = pick(["__proto__", "constructor", "prototype"]);
      const where = pick(["properties", "context", "top", "traits", "batch-item"]);
      const inner = `{"${key}":{"polluted":true,"isAdmin":true}}`;
      const text =
        where === "top"
          ? `{"type":"page","messageId":"m","${key}":{"polluted":true}}`
          : where === "batch-item"
            ? `{"batch":[{"type":"page","messageId":"m","${key}":{"x":1}}]}`
            : `{"type":"identify","messageId":"m","${where}":${inner}}`;
      return { kind: `pollution ${key} in ${where}`, body: text, contentType: "application/json" };
    },
    // invalid UTF-8 inside otherwise valid JSON
    () => {
      const before = encoder.encode('{"type":"track","event":"');
      const after = encoder.encode('","messageId":"m"}');
      const bad = pick([[0xff], [0xc3, 0x28], [0xe2, 0x82], [0xf0, 0x28, 0x8c, 0x28], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]);
      const bytes = new Uint8Array([...before, ...bad, ...after]);
      return { kind: "invalid utf-8", body: bytes, contentType: "application/json" };
    },
    // wrong or missing content types, with a valid body
    () => ({
      kind: "wrong content type",
      body: JSON.stringify(valid()),
      contentType: pick([
        null,
        "text/plain",
        "text/html",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/xml",
        "*/*",
      ]),
    }),
    // not JSON at all, or cut short
    () => {
      const text = JSON.stringify({ batch: [valid(), valid()] });
      const body = pick([
        text.slice(0, int(text.length - 1)),
        "",
        "undefined",
        "NaN",
        "{'single':'quotes'}",
        "\u0000\u0001",
        "[1,2,",
        "{}}",
        `${text}garbage`,
      ]);
      return { kind: "not json", body, contentType: "application/json" };
    },
    // unknown message types and missing required fields
    () =>
      json(
        pick([
          { type: "purchase", messageId: "m" },
          { type: "screen" },
          { type: "alias", messageId: "m", previousId: "a" },
          { type: "track", messageId: "m" },
          { type: "page" },
          { messageId: "m" },
          { type: "group", messageId: "m" },
        ]),
        "unknown or incomplete",
      ),
    // too many properties, or keys that are too long
    () => {
      const properties: Record<string, number> = {};
      const many = next() < 0.5;
      for (let index = 0; index < (many ? 65 + int(100) : 1); index++) properties[many ? `p${index}` : "k".repeat(129 + int(500))] = index;
      return json({ ...valid(), properties }, many ? "too many properties" : "long property key");
    },
  ];
  return () => pick(makers)();
}

function randomCookie(next: Random): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  let id = "";
  for (let index = 0; index < 22; index++) id += alphabet[Math.floor(next() * 64)];
  return `tailor_vid=${id}`;
}

it(`refuses ${CASES} hostile payloads with 4xx problems and changes no state`, { timeout: 120_000 }, async () => {
  console.log(`fuzz seed: ${SEED} (replay with TEST_SEED=${SEED})`);
  const next = seededRandom(SEED);
  const payload = generator(next);

  const known = visitorCookieFrom(await postEvents(track("Product Viewed", { product_id: "el-01", category: "electronics" }))) ?? "";
  const before = await (await request("/v1/profile", { headers: { cookie: known } })).text();

  const strangers: string[] = [];
  const kinds = new Map<string, number>();
  for (let index = 0; index < CASES; index++) {
    const { kind, body, contentType } = payload();
    // The known visitor gets a share small enough to stay under its rate limit.
    const cookie = index % 12 === 0 ? known : randomCookie(next);
    if (cookie !== known) strangers.push(cookie);
    const headers: Record<string, string> = { cookie, "cf-connecting-ip": `198.51.100.${index % 250}` };
    if (contentType !== null) headers["content-type"] = contentType;
    // As through Cloudflare's edge (`cf` present), so the spread of addresses keeps each under its limit.
    const response = await request("/v1/events", { method: "POST", headers, body, cf: { colo: "TST" } });
    const text = await response.text();
    if (response.status < 400 || response.status >= 500) {
      throw new Error(`case ${index} (${kind}) got ${response.status}: ${text.slice(0, 300)} — seed ${SEED}`);
    }
    expect(response.headers.get("content-type"), `case ${index} (${kind})`).toBe("application/problem+json");
    kinds.set(kind.split(":")[0] ?? kind, (kinds.get(kind.split(":")[0] ?? kind) ?? 0) + 1);
  }
  console.log(`fuzz cases by kind: ${JSON.stringify(Object.fromEntries(kinds))}`);

  const after = await (await request("/v1/profile", { headers: { cookie: known } })).text();
  expect((JSON.parse(after) as ProfileExport).events).toEqual((JSON.parse(before) as ProfileExport).events);
  expect(after).toBe(before);

  for (const cookie of strangers.slice(0, 300)) {
    const pseudonym = await pseudonymFor(cookie.split("=")[1] ?? "", env.VISITOR_ID_SECRET);
    const tables = await runInDurableObject(env.USER_SESSION.getByName(pseudonym), (_, state) =>
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'events'").toArray(),
    );
    expect(tables).toEqual([]);
  }
});
