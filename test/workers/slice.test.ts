/**
 * The walking skeleton end to end: a visitor's event changes their homepage, and the decision
 * reaches the Kafka REST double through the feedback queue.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { eventually, kafkaRecords, postEvents, publishRules, request, track, visitorCookieFrom } from "../support/worker/fixtures.ts";

const DEFAULT_HERO = "Autumn essentials";
const ELECTRONICS_HERO = "Still thinking about new tech?";

beforeEach(async () => {
  await publishRules();
});

describe("personalized homepage", () => {
  it("gives a first-time visitor a cookie and the default hero", async () => {
    const response = await request("/");
    expect(response.status).toBe(200);
    expect(visitorCookieFrom(response)).not.toBeNull();
    expect(response.headers.get("set-cookie")).toMatch(/HttpOnly/);
    expect(response.headers.get("set-cookie")).toMatch(/SameSite=Lax/);
    const html = await response.text();
    expect(html).toContain(DEFAULT_HERO);
    expect(html).not.toContain("data-p13n-rule");
  });

  it("shows the electronics hero after the same visitor views an electronics product", async () => {
    const first = await request("/");
    const cookie = visitorCookieFrom(first);
    await first.arrayBuffer();
    expect(cookie).not.toBeNull();

    const posted = await postEvents({ batch: [track("Product Viewed", { product_id: "el-03", category: "electronics" })] }, cookie ?? "");
    expect(posted.status).toBe(202);
    expect(visitorCookieFrom(posted)).toBeNull();

    const again = await request("/", { headers: { cookie: cookie ?? "" } });
    const html = await again.text();
    expect(html).toContain(ELECTRONICS_HERO);
    expect(html).not.toContain(DEFAULT_HERO);
    expect(html).toMatch(/<section class="hero" data-slot="hero" data-p13n-rule="electronics-hero" data-p13n-slot="hero">/);
    expect(again.headers.get("cache-control")).toMatch(/private/);
    expect(again.headers.get("vary")).toMatch(/Cookie/i);
    // The rest of the page streams through unchanged.
    expect(html).toContain("What customers say");
    expect(html.trimEnd().endsWith("</html>")).toBe(true);
  });

  it("keeps a different visitor on the default hero", async () => {
    const viewer = visitorCookieFrom(await request("/"));
    await postEvents({ batch: [track("Product Viewed", { product_id: "el-01", category: "electronics" })] }, viewer ?? "");

    const stranger = await request("/");
    expect(await stranger.text()).toContain(DEFAULT_HERO);
  });

  it("does not personalize on an outdoor view", async () => {
    const cookie = visitorCookieFrom(await request("/"));
    await postEvents(track("Product Viewed", { product_id: "od-01", category: "outdoor" }), cookie ?? "");
    expect(await (await request("/", { headers: { cookie: cookie ?? "" } })).text()).toContain(DEFAULT_HERO);
  });

  it("passes other pages and assets through from the origin untouched", async () => {
    const css = await request("/static/shop.css");
    expect(css.headers.get("content-type")).toMatch(/text\/css/);
    const direct = await fetch(`${env.ORIGIN_URL}/static/shop.css`);
    expect(await css.text()).toBe(await direct.text());

    const product = await request("/p/el-01");
    expect(product.headers.get("set-cookie")).toBeNull();
    expect(await product.text()).toBe(await (await fetch(`${env.ORIGIN_URL}/p/el-01`)).text());

    const missing = await request("/no/such/page");
    expect(missing.status).toBe(404);
  });
});

describe("feedback", () => {
  it("delivers the exposure to the Kafka REST proxy with the visitor's pseudonym as key", async () => {
    const cookie = visitorCookieFrom(await request("/"));
    await postEvents(track("Product Viewed", { product_id: "el-02", category: "electronics" }), cookie ?? "");
    const page = await request("/", { headers: { cookie: cookie ?? "" } });
    expect(await page.text()).toContain(ELECTRONICS_HERO);

    const exposures = await eventually(async () => {
      const records = await kafkaRecords(env.KAFKA_TOPIC_FEEDBACK);
      const mine = records.filter((record) => record.value.kind === "exposure" && record.value.ruleId === "electronics-hero");
      return mine.length > 0 ? mine : undefined;
    });
    const exposure = exposures.at(-1);
    expect(exposure?.value).toMatchObject({ v: 1, kind: "exposure", slot: "hero", path: "/", rulesVersion: 1 });
    expect(exposure?.key).toBe(exposure?.value.visitor);
    // The raw cookie value never leaves the edge.
    expect(JSON.stringify(exposures)).not.toContain((cookie ?? "").split("=")[1]);
  });
});
