/**
 * A real visitor in headless Chromium: the tracker on the demo shop sends their product views,
 * their profile shows them, and the homepage is then personalized.
 */
import type { Browser, BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import rules from "../../demo-shop/rules.json" with { type: "json" };
import { startDemoShop } from "../../demo-shop/server.ts";
import { startKafkaRestDouble } from "../../scripts/kafka-rest/server.ts";
import { type LocalTailor, startLocalTailor } from "../../scripts/lib/local-tailor.ts";
import type { ProfileExport } from "../../shared/profile/export.ts";
import { launchChromium } from "../support/browser.ts";

let tailor: LocalTailor;
let browser: Browser;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  const shop = await startDemoShop();
  const kafka = await startKafkaRestDouble();
  tailor = await startLocalTailor({ originUrl: shop.url, kafkaRestUrl: kafka.url, rules });
  browser = await launchChromium();
  closers.push(
    () => browser.close(),
    () => tailor.dispose(),
    shop.close,
    kafka.close,
  );
}, 180_000);

afterAll(async () => {
  for (const close of closers) await close();
});

async function profileOf(context: BrowserContext): Promise<ProfileExport> {
  const response = await context.request.get(`${tailor.url}/v1/profile`);
  return (await response.json()) as ProfileExport;
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() - started > timeoutMs) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("tracker in a real browser", () => {
  it("records two electronics product views and personalizes the homepage", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${tailor.url}/`);
    expect(await page.textContent('[data-slot="hero"] h1')).toBe("Autumn essentials");

    await page.goto(`${tailor.url}/p/el-01`);
    await page.goto(`${tailor.url}/p/el-03`);
    // Leaving the page flushes the tracker's queue with sendBeacon.
    await page.goto("about:blank");

    const profile = await waitFor(
      () => profileOf(context),
      (value) => value.events.filter((event) => event.event === "Product Viewed").length >= 2,
    );
    const views = profile.events.filter((event) => event.event === "Product Viewed");
    expect(views.map((event) => event.productId)).toEqual(["el-01", "el-03"]);
    expect(views.every((event) => event.category === "electronics")).toBe(true);
    expect(profile.events.filter((event) => event.type === "page").map((event) => event.path)).toEqual(["/", "/p/el-01", "/p/el-03"]);

    await page.goto(`${tailor.url}/`);
    expect(await page.textContent('[data-slot="hero"] h1')).toBe("Still thinking about new tech?");
    expect(await page.getAttribute('[data-slot="hero"]', "data-p13n-rule")).toBe("electronics-hero");

    // A click on the personalized slot is attributed to its rule.
    await page.click('[data-slot="hero"] a.cta');
    await page.waitForURL(/\/c\/electronics$/);
    await page.goto("about:blank");
    const clicked = await waitFor(
      () => profileOf(context),
      (value) => value.events.some((event) => event.event === "Promotion Clicked"),
    );
    const promotion = clicked.events.find((event) => event.event === "Promotion Clicked");
    expect(promotion?.properties).toMatchObject({ promotion_id: "electronics-hero", position: "hero" });
    await context.close();
  });

  it("personalizes a single-page-app navigation through /v1/decide", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${tailor.url}/`);
    expect(await page.textContent('[data-slot="hero"] h1')).toBe("Autumn essentials");
    await page.evaluate('tailor.track("Product Viewed", { product_id: "el-07", category: "electronics" }); tailor.flush();');
    await waitFor(
      () => profileOf(context),
      (value) => value.events.some((event) => event.productId === "el-07"),
    );
    // A client-side navigation: no page load, the tracker asks for the decision and applies it.
    await page.evaluate('history.pushState({}, "", "/?view=spa")');
    await page.waitForSelector('[data-slot="hero"][data-p13n-rule="electronics-hero"]');
    expect(await page.textContent('[data-slot="hero"] h1')).toBe("Still thinking about new tech?");
    await context.close();
  });

  it("sends nothing when the browser signals Global Privacy Control", async () => {
    const context = await browser.newContext({ extraHTTPHeaders: { "sec-gpc": "1" } });
    await context.addInitScript('Object.defineProperty(navigator, "globalPrivacyControl", { value: true })');
    const page = await context.newPage();
    const posted: string[] = [];
    page.on("request", (request) => {
      if (request.url().endsWith("/v1/events")) posted.push(request.url());
    });
    await page.goto(`${tailor.url}/p/el-01`);
    await page.goto(`${tailor.url}/`);
    await page.goto("about:blank");
    expect(posted).toEqual([]);
    expect((await context.cookies()).some((cookie) => cookie.name === "tailor_vid")).toBe(false);
    await context.close();
  });
});
