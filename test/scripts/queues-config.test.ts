/**
 * wrangler.toml's queue consumers match what the consumer's retry policy and the sizing in
 * docs/scaling.md assume, in every environment a deploy can use: a Kafka outage is ridden out by
 * the queue's own retries for days, and batches are the platform's largest.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { QUEUE_MAX_RETRIES } from "../../workers/feedback/retry-policy.ts";

const TOML = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");

/** Every environment wrangler.toml defines (`[env.<name>]`), and "" for the top level (local runs and a plain deploy). */
const ENVIRONMENTS = ["", ...[...TOML.matchAll(/^\[env\.([\w-]+)\]$/gm)].map((match) => match[1] ?? "")];

/**
 * The consumer tables of one environment (`[[queues.consumers]]` or `[[env.<name>.queues.consumers]]`),
 * `key = value` lines (the file uses only these), by queue role: `tailor-staging-events` is `events`.
 */
function consumers(environment: string): Map<string, Record<string, string>> {
  const text = TOML;
  const header = environment === "" ? "[[queues.consumers]]" : `[[env.${environment}.queues.consumers]]`;
  const prefix = environment === "" ? "tailor-" : `tailor-${environment}-`;
  const tables = new Map<string, Record<string, string>>();
  for (const section of text.split(`\n${header}\n`).slice(1)) {
    const table: Record<string, string> = {};
    for (const line of (section.split(/^\[/m)[0] ?? "").split("\n")) {
      const match = /^(\w+)\s*=\s*"?([^"]*)"?\s*$/.exec(line.trim());
      if (match?.[1] !== undefined && match[2] !== undefined) table[match[1]] = match[2];
    }
    if (table.queue?.startsWith(prefix)) tables.set(table.queue.slice(prefix.length), { ...table, prefix });
  }
  return tables;
}

it("finds the environments a deploy can use", () => {
  expect(ENVIRONMENTS).toEqual(expect.arrayContaining(["", "staging", "production"]));
});

describe.each(ENVIRONMENTS)("queue consumers in wrangler.toml, environment '%s'", (environment) => {
  it.each(["events", "feedback"])("%s retries as long as the retry policy assumes, then dead-letters", (queue) => {
    const table = consumers(environment).get(queue);
    expect(table?.max_retries).toBe(String(QUEUE_MAX_RETRIES));
    expect(table?.dead_letter_queue).toBe(`${table?.prefix}dead-letter`);
  });

  it.each(["events", "feedback", "dead-letter"])("%s takes batches of the platform's largest size, 100", (queue) => {
    expect(consumers(environment).get(queue)?.max_batch_size).toBe("100");
  });
});
