/**
 * wrangler.toml's queue consumers match what the consumer's retry policy and the sizing in
 * docs/scaling.md assume: a Kafka outage is ridden out by the queue's own retries for days, and
 * batches are the platform's largest.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { QUEUE_MAX_RETRIES } from "../../workers/feedback/retry-policy.ts";

/** `[[queues.consumers]]` tables of wrangler.toml, `key = value` lines (the file uses only these). */
function consumers(): Map<string, Record<string, string>> {
  const text = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");
  const tables = new Map<string, Record<string, string>>();
  for (const section of text.split(/^\[\[queues\.consumers\]\]$/m).slice(1)) {
    const table: Record<string, string> = {};
    for (const line of (section.split(/^\[/m)[0] ?? "").split("\n")) {
      const match = /^(\w+)\s*=\s*"?([^"]*)"?\s*$/.exec(line.trim());
      if (match?.[1] !== undefined && match[2] !== undefined) table[match[1]] = match[2];
    }
    if (table.queue !== undefined) tables.set(table.queue, table);
  }
  return tables;
}

describe("queue consumers in wrangler.toml", () => {
  it.each(["tailor-events", "tailor-feedback"])("%s retries as long as the retry policy assumes, then dead-letters", (queue) => {
    const table = consumers().get(queue);
    expect(table?.max_retries).toBe(String(QUEUE_MAX_RETRIES));
    expect(table?.dead_letter_queue).toBe("tailor-dead-letter");
  });

  it.each(["tailor-events", "tailor-feedback", "tailor-dead-letter"])("%s takes batches of the platform's largest size, 100", (queue) => {
    expect(consumers().get(queue)?.max_batch_size).toBe("100");
  });
});
