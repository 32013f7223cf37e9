/**
 * Personal data does not leave: an event with an e-mail address, a phone number, an IP address and
 * excluded names nested three levels deep and in its path reaches the Kafka REST double without
 * them, through the real Worker, Durable Object and events queue; so does a decision's exposure for
 * a path holding an e-mail address.
 */
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { eventually, kafkaRecords, postEvents, publishRules, recordingAnalytics, request, track } from "../../support/worker/fixtures.ts";

const PERSONAL = /bob@example\.com|bob%40example\.com|Bob Smith|1234567|203\.0\.113\.7|2001:db8::7/;

it("events reach Kafka with personal data redacted at every depth and in the path", async () => {
  const messageId = `pii-${crypto.randomUUID()}`;
  const response = await postEvents({
    type: "track",
    event: "Checkout Step Viewed",
    messageId,
    context: { page: { path: "/checkout?user=bob@example.com&step=2" } },
    properties: {
      step: 2,
      product_id: "el-01",
      customer: {
        profile: {
          contact: { emailAddress: "bob@example.com", full_name: "Bob Smith", note: "call +49 30 1234567", seen_from: "203.0.113.7" },
          devices: ["2001:db8::7", "ios"],
        },
      },
      "E-Mail": "bob@example.com",
      referrer: "/account?user=bob%40example.com",
    },
  });
  expect(response.status).toBe(202);
  const record = await eventually(async () =>
    (await kafkaRecords(env.KAFKA_TOPIC_EVENTS)).find((candidate) => candidate.value.id === messageId),
  );
  expect(JSON.stringify(record)).not.toMatch(PERSONAL);
  expect(record.value).toMatchObject({
    path: "/checkout?user=[redacted:email]&step=2",
    productId: "el-01",
    properties: {
      step: 2,
      product_id: "el-01",
      customer: {
        profile: { contact: { note: "call [redacted:phone]", seen_from: "[redacted:ip]" }, devices: ["[redacted:ip]", "ios"] },
      },
      referrer: "/account?user=[redacted:email]",
    },
  });
  expect(Object.keys(record.value.properties as object)).not.toContain("E-Mail");
});

it("exposures reach Kafka without personal data in their path", async () => {
  await publishRules({
    version: 1,
    slots: { hero: { selector: '[data-slot="hero"]' } },
    rules: [{ id: "account-hero", pages: ["/u/*"], actions: { hero: { type: "setText", text: "Welcome back" } } }],
  });
  const decided = await request("/v1/decide?path=/u/bob@example.com/orders", { headers: { "user-agent": "Mozilla/5.0 Chrome/156.0" } });
  expect(decided.status).toBe(200);
  const { decisionId } = (await decided.json()) as { decisionId: string };
  const record = await eventually(async () =>
    (await kafkaRecords(env.KAFKA_TOPIC_FEEDBACK)).find((candidate) => candidate.value.decisionId === decisionId),
  );
  expect(record.value.path).toBe("/u/[redacted:email]/orders");
  expect(JSON.stringify(record)).not.toMatch(PERSONAL);
});

it("decisions and fallbacks reach Analytics Engine without personal data in their path", async () => {
  await publishRules({
    version: 1,
    slots: { hero: { selector: '[data-slot="hero"]' } },
    rules: [{ id: "account-hero", pages: ["/u/*"], actions: { hero: { type: "setText", text: "Welcome back" } } }],
  });
  const analytics = recordingAnalytics();
  const browser = { "user-agent": "Mozilla/5.0 Chrome/156.0" };
  const decided = await request("/v1/decide?path=/u/bob@example.com/orders", { headers: browser }, { ANALYTICS: analytics.dataset });
  expect(decided.status).toBe(200);
  // A page whose origin cannot be reached records a fallback with the path too.
  const failed = await request(
    "/u/bob%40example.com/call/+49-30-1234567",
    { headers: browser },
    { ANALYTICS: analytics.dataset, ORIGIN_URL: "http://127.0.0.1:9" },
  );
  expect(failed.status).toBe(502);
  const kinds = analytics.points.map((point) => point.blobs?.[0]);
  expect(kinds).toContain("decision");
  expect(kinds).toContain("fallback");
  expect(JSON.stringify(analytics.points)).not.toMatch(PERSONAL);
});

it("product ids and categories that are personal data reach Kafka redacted", async () => {
  const events = [
    { properties: { product_id: "jane.doe@example.com", category: "203.0.113.5" }, productId: "redacted-email", category: "redacted-ip" },
    { properties: { sku: "+49 170 1234567", category: "Home" }, productId: "redacted-phone", category: "home" },
    { properties: { product_id: "2001:db8::1" }, productId: "redacted-ip", category: null },
  ].map((expected) => ({ ...expected, event: track("Product Viewed", expected.properties) }));
  const response = await postEvents({ batch: events.map(({ event }) => event) });
  expect(response.status).toBe(202);
  for (const { event, productId, category } of events) {
    const record = await eventually(async () =>
      (await kafkaRecords(env.KAFKA_TOPIC_EVENTS)).find((candidate) => candidate.value.id === event.messageId),
    );
    expect(record.value).toMatchObject({ productId, category });
    expect(JSON.stringify(record)).not.toMatch(/jane|doe@|1701234567|170 1234567|203\.0\.113\.5|2001:db8/);
  }
});

it("a messageId holding personal data is refused, so it never becomes a record id upstream", async () => {
  for (const messageId of [`jane.doe@example.com`, "+49 170 1234567", "203.0.113.5"]) {
    const response = await postEvents({ ...track("Product Viewed"), messageId });
    expect(response.status).toBe(422);
  }
  const records = await kafkaRecords(env.KAFKA_TOPIC_EVENTS);
  expect(JSON.stringify(records.map((record) => record.value.id))).not.toMatch(/jane\.doe@example\.com|170 1234567|203\.0\.113\.5/);
});
