/**
 * `npm run train -- <events.ndjson> [--out models] [--name demo]`: builds `related.json`
 * (item-to-item) and `intent.json` (logistic) from an NDJSON event export, validates them, and
 * prints how to publish them to KV. Nothing is published by itself.
 */
import { createReadStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { Model } from "../../shared/rules/document.ts";
import { readEvents, trainIntent, trainItemToItem } from "./train.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { out: { type: "string", default: "models" }, name: { type: "string", default: new Date().toISOString().slice(0, 10) } },
});
const input = positionals[0];
if (input === undefined) {
  console.error("usage: npm run train -- <events.ndjson> [--out models] [--name <version>]");
  process.exit(2);
}

const lines: string[] = [];
try {
  for await (const line of createInterface({ input: createReadStream(input), crlfDelay: Number.POSITIVE_INFINITY })) lines.push(line);
} catch (error) {
  console.error(`train: cannot read ${input}: ${(error as Error).message}`);
  process.exit(1);
}
const { events, skipped } = readEvents(lines);
console.log(`train: ${events.length} events read from ${input}${skipped > 0 ? `, ${skipped} lines skipped (not events)` : ""}`);
if (events.length === 0) {
  console.error("train: no events to learn from");
  process.exit(1);
}

const related = Model.parse(trainItemToItem(events));
const intent = Model.parse(trainIntent(events));
await mkdir(values.out, { recursive: true });
const files = { related: join(values.out, "related.json"), intent: join(values.out, "intent.json") };
await writeFile(files.related, `${JSON.stringify(related, null, 2)}\n`);
await writeFile(files.intent, `${JSON.stringify(intent, null, 2)}\n`);
console.log(
  `train: item-to-item model for ${Object.keys(related.type === "itemToItem" ? related.related : {}).length} products → ${files.related}`,
);
console.log(`train: intent model → ${files.intent} (${intent.description ?? ""})`);
console.log("\nPublish them (signed: pages use no model written to KV any other way) under new keys, e.g.:");
console.log(`  npm run rules -- publish-model ${files.related} --key models:related:${values.name}`);
console.log(`  npm run rules -- publish-model ${files.intent} --key models:intent:${values.name}`);
console.log("(against the running `npm run dev`, or --url / TAILOR_URL with ADMIN_TOKEN for a deployed Tailor)");
console.log(
  `and in the rules: "models": { "related": { "kv": "models:related:${values.name}" }, "intent": { "kv": "models:intent:${values.name}" } }`,
);
