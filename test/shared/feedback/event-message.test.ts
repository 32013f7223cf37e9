import { describe, expect, it } from "vitest";
import { normalizeMessage, type RecordedEvent } from "../../../shared/events/recorded.ts";
import { SegmentMessage } from "../../../shared/events/segment.ts";
import { excludedProperties, toEventMessage } from "../../../shared/feedback/event-message.ts";
import { redactText } from "../../../shared/redact.ts";

/** The default `EXCLUDED_PROPERTIES` of wrangler.toml. */
const EXCLUDED = excludedProperties("email,phone,name,first_name,last_name,address,ip");
const VISITOR = "eventMessageVisitor0000000000000";

function event(overrides: Partial<RecordedEvent>): RecordedEvent {
  return {
    messageId: "m-1",
    type: "track",
    event: "Product Viewed",
    category: null,
    productId: null,
    path: "/",
    receivedAt: Date.parse("2026-11-26T12:00:00Z"),
    clientTime: null,
    properties: {},
    consent: null,
    ...overrides,
  };
}

describe("property names excluded at any depth", () => {
  const excluded = [
    "email",
    "Email",
    "EMAIL",
    "e-mail",
    "E_Mail",
    "e.mail",
    "eMail",
    "email_address",
    "emailAddress",
    "customerEmail",
    "customer_email_2",
    "phone",
    "phone_number",
    "phoneNumber",
    "mobilePhone",
    "ip",
    "IP",
    "ip_address",
    "ipAddress",
    "IPAddress",
    "userIP",
    "client-ip",
    "full_name",
    "fullName",
    "firstName",
    "first name",
    "LAST-NAME",
    "shipping_address",
    "addressLine1",
  ];
  const kept = [
    "shipping",
    "zip",
    "tip",
    "description",
    "hostname",
    "category",
    "price",
    "product_id",
    "sku",
    "ipsum",
    "phonetic",
    "mailbox",
  ];

  it.each(excluded)("drops %s", (name) => {
    expect(EXCLUDED.has(name)).toBe(true);
  });

  it.each(kept)("keeps %s", (name) => {
    expect(EXCLUDED.has(name)).toBe(false);
  });
});

describe("values that look like personal data", () => {
  const cases: [string, string][] = [
    // E-mail addresses, alone, inside text, in paths and query strings, percent-encoded.
    ["bob@example.com", "[redacted:email]"],
    ["Bob.Smith+shop@mail.example.co.uk", "[redacted:email]"],
    ["contact: bob@example.com, thanks", "contact: [redacted:email], thanks"],
    ["write to bob@example.com.", "write to [redacted:email]."],
    ["/account?user=bob@example.com", "/account?user=[redacted:email]"],
    ["/account?user=bob%40example.com&tab=2", "/account?user=[redacted:email]&tab=2"],
    ["/u/bob@example.com/orders", "/u/[redacted:email]/orders"],
    ["mailto:a_b-c@sub.example.org", "mailto:[redacted:email]"],
    ['"bob@example.com"', '"[redacted:email]"'],
    ["<bob@example.com>", "<[redacted:email]>"],
    // Phone numbers: international, North American, national with a trunk 0.
    ["+49 30 1234567", "[redacted:phone]"],
    ["+4915112345678", "[redacted:phone]"],
    ["call +1 (415) 555-0100 now", "call [redacted:phone] now"],
    ["+44-20-7946-0958", "[redacted:phone]"],
    ["0049 30 1234567", "[redacted:phone]"],
    ["(415) 555-0100", "[redacted:phone]"],
    ["415-555-0100", "[redacted:phone]"],
    ["415.555.0100", "[redacted:phone]"],
    ["030 1234567", "[redacted:phone]"],
    ["020 7946 0958", "[redacted:phone]"],
    ["(call 030 1234567)", "(call [redacted:phone])"],
    ["/contact?tel=%2B49%2030%201234567", "/contact?tel=[redacted:phone]"],
    ["/contact?tel=+4930123456&x=1", "/contact?tel=[redacted:phone]&x=1"],
    // IP addresses.
    ["192.168.1.20", "[redacted:ip]"],
    ["from 10.0.0.1:8080", "from [redacted:ip]:8080"],
    ["/debug?ip=203.0.113.7", "/debug?ip=[redacted:ip]"],
    ["2001:db8::ff00:42:8329", "[redacted:ip]"],
    ["fe80::1", "[redacted:ip]"],
    ["::1", "[redacted:ip]"],
    ["http://[2001:db8::1]:8080/", "http://[[redacted:ip]]:8080/"],
    ["::ffff:192.0.2.1", "[redacted:ip]"],
    ["2001:0db8:85a3:0000:0000:8a2e:0370:7334", "[redacted:ip]"],
    // Must NOT be redacted: prices, dates, times, ids, versions, counts, ordinary words.
    ["12.99", "12.99"],
    ["1299.00", "1299.00"],
    ["el-01", "el-01"],
    ["/p/el-01", "/p/el-01"],
    ["2026-11-26T12:00:00.000Z", "2026-11-26T12:00:00.000Z"],
    ["2026-11-26", "2026-11-26"],
    ["26.11.2026", "26.11.2026"],
    ["12:30", "12:30"],
    ["order 12345678", "order 12345678"],
    ["ORD-2026-000123", "ORD-2026-000123"],
    ["1732622400000", "1732622400000"],
    ["v1.2.3.4", "v1.2.3.4"],
    ["1.2.3", "1.2.3"],
    ["std::vector", "std::vector"],
    ["00:1A:2B:3C:4D:5E", "00:1A:2B:3C:4D:5E"],
    ["sizes 36 38 40 42 44", "sizes 36 38 40 42 44"],
    ["415 555 0100", "415 555 0100"],
    ["@handle", "@handle"],
    ["user@localhost", "user@localhost"],
    ["50% off", "50% off"],
    ["/c/electronics?page=2&sort=price", "/c/electronics?page=2&sort=price"],
    ["Autumn essentials", "Autumn essentials"],
  ];

  it.each(cases)("%s → %s", (input, expected) => {
    expect(redactText(input)).toBe(expected);
  });

  it("takes linear time on long hostile strings", () => {
    // Shapes that make backtracking patterns quadratic or worse; each is 2,048 characters (the cap).
    const hostile = [
      "a".repeat(2_048),
      `${"a.".repeat(1_023)}@`,
      `${"1 ".repeat(1_023)}x`,
      `${"1-".repeat(1_023)}-`,
      `${"f:".repeat(1_023)}g`,
      `${"1.".repeat(1_023)}.`,
      `${"(".repeat(1_024)}${"1".repeat(1_024)}`,
      `${"%40".repeat(682)}aa`,
    ];
    for (const input of hostile) expect(typeof redactText(input)).toBe("string");
    // 100 times over is still instant: no input here takes more than linear work.
    for (let round = 0; round < 100; round++) for (const input of hostile) redactText(input);
  });
});

describe("toEventMessage", () => {
  it("drops excluded names and redacts values at every depth, in arrays, keys and the path", () => {
    const message = toEventMessage(
      event({
        path: "/account?user=bob@example.com",
        category: "10.1.2.3",
        properties: {
          product_id: "el-01",
          price: 12.99,
          Email: "bob@example.com",
          order: {
            customer: {
              emailAddress: "bob@example.com",
              fullName: "Bob Smith",
              note: "call me at +49 30 1234567",
              tags: ["vip", "bob@example.com", { ip_address: "10.0.0.1", shipping: "express" }],
            },
            shipping: "standard",
          },
          "bob@example.com": true,
        },
      }),
      VISITOR,
      EXCLUDED,
    );
    expect(message.path).toBe("/account?user=[redacted:email]");
    expect(message.category).toBe("[redacted:ip]");
    expect(message.properties).toEqual({
      product_id: "el-01",
      price: 12.99,
      order: {
        customer: {
          note: "call me at [redacted:phone]",
          tags: ["vip", "[redacted:email]", { shipping: "express" }],
        },
        shipping: "standard",
      },
      "[redacted:email]": true,
    });
    expect(JSON.stringify(message)).not.toMatch(/bob@|Bob Smith|1234567|10\.0\.0\.1/);
  });

  it("keeps fields within the queue schema's lengths when a redaction is longer than what it replaced", () => {
    const message = toEventMessage(
      event({ category: "1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4 5.5.5.5 6.6.6.6 7.7.7.7 8.8.8.8" }),
      VISITOR,
      EXCLUDED,
    );
    expect(message.category?.length).toBeLessThanOrEqual(64);
    expect(message.category).not.toMatch(/\d\.\d/);
  });

  it("sends no identify traits at all", () => {
    const message = toEventMessage(event({ type: "identify", event: null, properties: { plan: "gold" } }), VISITOR, EXCLUDED);
    expect(message.properties).toEqual({});
  });
});

describe("category and product id", () => {
  // Ids a shop (or an attacker) may put where a product id or category belongs.
  const cases: { name: string; properties: Record<string, unknown>; category: string | null; productId: string | null }[] = [
    { name: "e-mail as product_id", properties: { product_id: "jane.doe@example.com" }, category: null, productId: "redacted-email" },
    { name: "e-mail in capitals as sku", properties: { sku: "Jane.Doe@Example.COM" }, category: null, productId: "redacted-email" },
    { name: "phone as sku", properties: { sku: "+49 170 1234567" }, category: null, productId: "redacted-phone" },
    {
      name: "North American phone as product_id",
      properties: { product_id: "(415) 555-0100" },
      category: null,
      productId: "redacted-phone",
    },
    { name: "IPv6 as product_id", properties: { product_id: "2001:db8::1" }, category: null, productId: "redacted-ip" },
    { name: "IPv4 as category", properties: { category: "203.0.113.5" }, category: "redacted-ip", productId: null },
    {
      name: "e-mail inside a category",
      properties: { category: "vip jane.doe@example.com" },
      category: "vip-redacted-email",
      productId: null,
    },
    { name: "ordinary ids", properties: { category: "Home & Garden", product_id: "EL-01" }, category: "home-garden", productId: "el-01" },
    { name: "numeric product id", properties: { product_id: 1001 }, category: null, productId: "1001" },
    { name: "dated product id", properties: { product_id: "2026-11-26-drop" }, category: null, productId: "2026-11-26-drop" },
  ];
  const PERSONAL = /jane|doe|example|1701234567|555-?0100|203-?0-?113-?5|2001-?db8/i;

  it.each(cases)("keys no personal data: $name", ({ properties, category, productId }) => {
    const message = SegmentMessage.parse({ type: "track", event: "Product Viewed", messageId: "m-1", properties });
    const recorded = normalizeMessage(message, Date.parse("2026-11-26T12:00:00Z"));
    expect({ category: recorded.category, productId: recorded.productId }).toEqual({ category, productId });
    const queued = toEventMessage(recorded, VISITOR, EXCLUDED);
    expect(`${queued.category} ${queued.productId}`).not.toMatch(PERSONAL);
  });
});
