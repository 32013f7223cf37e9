/**
 * `npx tsx scripts/screenshots.ts`: renders the web editor and its preview with the demo rules and
 * saves `docs/images/editor.png` and `docs/images/preview.png` for the README. Uses Debian's
 * Chromium, like the browser tests.
 */
import rules from "../demo-shop/rules.json" with { type: "json" };
import { launchChromium } from "../test/support/browser.ts";
import { startSystem } from "../test/support/system.ts";

const system = await startSystem(rules);
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1100 } });
  await page.goto(`${system.tailor.url}/admin/login`);
  await page.fill('input[name="name"]', "Maria");
  await page.fill('input[name="token"]', system.adminToken);
  await page.click('button[type="submit"]');
  await page.waitForURL(/\/admin$/);
  await page.screenshot({ path: "docs/images/dashboard.png", fullPage: true });
  await page.goto(`${system.tailor.url}/admin/rules/electronics-hero`);
  await page.fill('textarea[name="content-hero"]', "<h1>Gadget week: 25% off</h1><p>Headphones, monitors and more, only until Sunday.</p>");
  await page.selectOption("#sample-visitor", "electronics");
  await page.click("#preview");
  await page.frameLocator("#preview-frame").locator('[data-slot="hero"] h1').waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: "docs/images/editor.png" });
  await page.locator("aside.preview").screenshot({ path: "docs/images/preview.png" });
  console.log("screenshots: wrote docs/images/dashboard.png, editor.png, preview.png");
} finally {
  await browser.close();
  await system.close();
}
