/**
 * How soon a published rules version reaches the page path, with the default refresh interval
 * (`RULES_REFRESH_MS` = 5000): once through the admin API (the publishing isolate drops its copy at
 * once) and several times as a direct KV write — what every other isolate sees, since none of them
 * reads KV per request. A visitor requests the homepage every 50 ms; the time is from the write to
 * the first page with the new hero.
 *
 *   npm run bench:publish
 */

import rules from "../../demo-shop/rules.json" with { type: "json" };
import { startDemoShop } from "../../demo-shop/server.ts";
import { startKafkaRestDouble } from "../kafka-rest/server.ts";
import { LOCAL_RULES_SIGNING_KEY, startLocalTailor } from "../lib/local-tailor.ts";
import { putLiveVersion } from "../lib/signed-version.ts";
import { formatNumber, percentile } from "./stats.ts";

const ROUNDS = 8;
const shop = await startDemoShop();
const kafka = await startKafkaRestDouble();
const adminToken = "bench-admin-token-0123456789abcdef";
const tailor = await startLocalTailor({ originUrl: shop.url, kafkaRestUrl: kafka.url, rules, bindings: { ADMIN_TOKEN: adminToken } });
const kv = await tailor.miniflare.getKVNamespace("RULES");

const cookie = "tailor_vid=benchPublishVisitor000";
await fetch(`${tailor.url}/v1/events`, {
  method: "POST",
  headers: { "content-type": "application/json", cookie },
  body: JSON.stringify({
    type: "track",
    event: "Product Viewed",
    messageId: "publish-bench-view",
    properties: { product_id: "el-01", category: "electronics" },
  }),
});

function withHero(text: string, version: number) {
  const document = structuredClone(rules) as typeof rules;
  const hero = document.rules[0]?.actions.hero;
  if (hero !== undefined && "html" in hero) hero.html = `<h1>${text}</h1>`;
  return { ...document, version };
}

async function timeUntilServed(text: string, publish: () => Promise<void>): Promise<number> {
  await publish();
  const started = performance.now();
  for (;;) {
    const html = await (await fetch(`${tailor.url}/`, { headers: { cookie, "user-agent": "Mozilla/5.0 bench" } })).text();
    if (html.includes(text)) return performance.now() - started;
    if (performance.now() - started > 30_000) throw new Error("the new version never arrived");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

try {
  const viaApi = await timeUntilServed("Published through the API", async () => {
    const response = await fetch(`${tailor.url}/admin/api/rules`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ document: withHero("Published through the API", 0), message: "bench" }),
    });
    if (response.status !== 201) throw new Error(`publish answered ${response.status}`);
  });
  const direct: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const version = 100 + round;
    const text = `Written to KV, round ${round}`;
    direct.push(
      await timeUntilServed(text, async () => {
        // Signed as a publish signs it (pages serve nothing else), but without the admin's checks.
        await putLiveVersion(kv, withHero(text, version), LOCAL_RULES_SIGNING_KEY);
      }),
    );
    process.stdout.write(`bench: round ${round + 1}/${ROUNDS} ${formatNumber(direct.at(-1) ?? 0, 0)} ms\n`);
  }
  direct.sort((a, b) => a - b);
  console.log(`\nPublish → first page with the new version (RULES_REFRESH_MS = 5000, a request every 50 ms)`);
  console.log(`  through the admin API (publishing isolate):  ${formatNumber(viaApi, 0)} ms`);
  console.log(
    `  written to KV (any other isolate), ${ROUNDS} rounds: min ${formatNumber(direct[0] ?? 0, 0)} ms, median ${formatNumber(percentile(direct, 0.5), 0)} ms, max ${formatNumber(direct.at(-1) ?? 0, 0)} ms`,
  );
  console.log("  documented bound: RULES_REFRESH_MS plus one request; no KV read on any request in between");
} finally {
  await tailor.dispose();
  await shop.close();
  await kafka.close();
}
