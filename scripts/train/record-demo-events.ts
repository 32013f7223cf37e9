/**
 * `npx tsx scripts/train/record-demo-events.ts [out.ndjson]`: records what the demo shop's tracker
 * really sends, for the trainer's test fixture. A few visitors in headless Chromium browse the demo
 * shop through Tailor (the built Worker on Miniflare), each looking at a handful of products in one
 * or two categories and putting one in the basket; the events topic as the Kafka REST double
 * received it is written out, one record per line, exactly as `.kafka-rest/tailor.events.ndjson`.
 */
import { writeFile } from "node:fs/promises";
import rules from "../../demo-shop/rules.json" with { type: "json" };
import { startDemoShop } from "../../demo-shop/server.ts";
import { launchChromium } from "../../test/support/browser.ts";
import { startKafkaRestDouble } from "../kafka-rest/server.ts";
import { startLocalTailor } from "../lib/local-tailor.ts";

const out = process.argv[2] ?? "test/scripts/fixtures/demo-shop-events.ndjson";
const JOURNEYS = [
  ["/p/el-01", "/p/el-02", "/p/el-03"],
  ["/p/el-02", "/p/el-03", "/p/el-05"],
  ["/p/el-01", "/p/el-03", "/p/od-01"],
  ["/p/od-01", "/p/od-02", "/p/od-04"],
  ["/p/od-02", "/p/od-04", "/p/hm-01"],
  ["/p/hm-01", "/p/hm-02", "/p/hm-03"],
];

const shop = await startDemoShop();
const kafka = await startKafkaRestDouble({ log: () => undefined });
const tailor = await startLocalTailor({ originUrl: shop.url, kafkaRestUrl: kafka.url, rules });
const browser = await launchChromium();
try {
  for (const journey of JOURNEYS) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${tailor.url}/`);
    for (const path of journey) await page.goto(`${tailor.url}${path}`);
    // The last product goes into the basket, as the shop's button does it.
    const add = await page.$("[data-add-to-cart]");
    if (add !== null) await add.click();
    // Leaving the page flushes the tracker's queue.
    await page.goto("about:blank");
    await context.close();
  }
  const events = () => kafka.records().filter((record) => record.topic === "tailor.events");
  const started = Date.now();
  let seen = -1;
  // Done when nothing new arrived for three seconds.
  while (Date.now() - started < 60_000) {
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    if (events().length === seen) break;
    seen = events().length;
  }
  await writeFile(
    out,
    `${events()
      .map((record) => JSON.stringify(record))
      .join("\n")}\n`,
  );
  console.log(`record: ${events().length} event records → ${out}`);
} finally {
  await browser.close();
  await tailor.dispose();
  await Promise.all([shop.close(), kafka.close()]);
}
