/**
 * A marketer in a real browser: signs in with the token, edits the hero rule, previews it as a
 * sample visitor, publishes, sees a matching visitor's homepage change, rolls back and sees it
 * return; a broken draft shows the error by the field and cannot be published.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import rules from "../../demo-shop/rules.json" with { type: "json" };
import { launchChromium } from "../support/browser.ts";
import { type System, startSystem } from "../support/system.ts";

let system: System;
let browser: Browser;

beforeAll(async () => {
  system = await startSystem(rules, { RULES_REFRESH_MS: "200" });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser.close();
  await system.close();
});

async function signIn(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${system.tailor.url}/admin`);
  expect(page.url()).toMatch(/\/admin\/login$/);
  await page.fill('input[name="name"]', "Maria");
  await page.fill('input[name="token"]', system.adminToken);
  await page.click('button[type="submit"]');
  await page.waitForURL(/\/admin$/);
  return page;
}

/** A shopper who just looked at an electronics product, and what their homepage hero says. */
async function shopperHero(): Promise<() => Promise<string>> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${system.tailor.url}/p/el-04`);
  await page.goto("about:blank");
  // Wait until the tracker's beacon has been recorded (the machine may be busy with other tests).
  for (let attempt = 0; attempt < 480; attempt++) {
    const profile = (await (await context.request.get(`${system.tailor.url}/v1/profile`)).json().catch(() => ({}))) as {
      events?: { productId: string | null }[];
    };
    if (profile.events?.some((event) => event.productId === "el-04")) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return async () => {
    await page.goto(`${system.tailor.url}/`);
    return (await page.textContent('[data-slot="hero"] h1')) ?? "";
  };
}

async function eventually(read: () => Promise<string>, expected: string): Promise<string> {
  let last = "";
  for (let attempt = 0; attempt < 480; attempt++) {
    last = await read();
    if (last.includes(expected)) return last;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return last;
}

describe("rules editor", () => {
  it("edits, previews, publishes and rolls back the hero rule", async () => {
    const context = await browser.newContext();
    const page = await signIn(context);
    await page.click('a[href="/admin/rules/electronics-hero"]');
    await page.fill('textarea[name="content-hero"]', "<h1>Gadget week: 25% off</h1><p>Only until Sunday.</p>");

    await page.selectOption("#sample-visitor", "electronics");
    await page.click("#preview");
    await page.frameLocator("#preview-frame").locator('[data-slot="hero"] h1').waitFor();
    expect(await page.frameLocator("#preview-frame").locator('[data-slot="hero"] h1').textContent()).toBe("Gadget week: 25% off");
    expect(await page.textContent("#preview-decisions")).toContain("hero: rule “electronics-hero”");

    const hero = await shopperHero();
    expect(await eventually(hero, "Still thinking")).toContain("Still thinking about new tech?");

    await page.fill('input[name="message"]', "Gadget week hero");
    await page.click("#publish");
    await page.waitForSelector("#status.ok");
    expect(await page.textContent("#status")).toContain("Published as version 2");
    expect(await eventually(hero, "Gadget week")).toBe("Gadget week: 25% off");

    page.on("dialog", (dialog) => void dialog.accept());
    await page.goto(`${system.tailor.url}/admin/versions`);
    expect(await page.textContent("tr.live")).toContain("Gadget week hero");
    await page.click('button.rollback[data-version="1"]');
    await page.waitForSelector("#status.ok");
    expect(await eventually(hero, "Still thinking")).toBe("Still thinking about new tech?");
    await context.close();
  });

  it("shows a broken draft's errors next to the field and does not publish it", async () => {
    const context = await browser.newContext();
    const page = await signIn(context);
    await page.goto(`${system.tailor.url}/admin/rules/electronics-hero`);
    await page.fill('input[name="pages"]', "homepage");
    await page.waitForSelector('[data-pointer="/rules/0/pages"] .problem.error');
    expect(await page.textContent('[data-pointer="/rules/0/pages"] .problem.error')).toMatch(/\//);
    const before = await (
      await fetch(`${system.tailor.url}/admin/api/rules/versions`, { headers: { authorization: `Bearer ${system.adminToken}` } })
    ).json();
    await page.click("#publish");
    await page.waitForSelector("#status.error");
    expect(await page.textContent("#status")).toContain("Fix the errors");
    const after = await (
      await fetch(`${system.tailor.url}/admin/api/rules/versions`, { headers: { authorization: `Bearer ${system.adminToken}` } })
    ).json();
    expect(after).toEqual(before);
    await context.close();
  });
});
