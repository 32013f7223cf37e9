/**
 * Sticky bandit assignments through the page path: a returning visitor keeps the variant a bandit
 * first drew for them while the posterior moves the other way; a new visitor follows the posterior;
 * the exposures (which clicks and conversions are credited to) name the kept variant.
 */
import { describe, expect, it } from "vitest";
import type { DecisionBatchMessage } from "../../../shared/feedback/messages.ts";
import type { RulesDocumentInput } from "../../../shared/rules/document.ts";
import { eventually, exported, newVisitor, publishRules, recordingFeedbackQueue, request } from "../../support/worker/fixtures.ts";

const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36" };
const STRONG = { successes: 950, trials: 1_000 };
const WEAK = { successes: 1, trials: 1_000 };

/** A bandit on the hero whose prior strongly favours `favoured`. */
function banditDocument(experiment: string, favoured: "plain" | "bold", version: number): RulesDocumentInput {
  return {
    version,
    slots: { hero: { selector: '[data-slot="hero"]' } },
    experiments: {
      [experiment]: {
        variants: ["plain", "bold"],
        allocation: "bandit",
        counts: favoured === "plain" ? { plain: STRONG, bold: WEAK } : { plain: WEAK, bold: STRONG },
      },
    },
    rules: [
      {
        id: "hero-bandit",
        experiment: {
          id: experiment,
          variants: {
            plain: { hero: { type: "setText", text: "VARIANT-PLAIN" } },
            bold: { hero: { type: "setText", text: "VARIANT-BOLD" } },
          },
        },
      },
    ],
  };
}

async function heroOf(cookie: string, overrides: Partial<Env> = {}): Promise<string> {
  const html = await (await request("/", { headers: { ...BROWSER, cookie } }, overrides)).text();
  return html.includes("VARIANT-BOLD") ? "bold" : html.includes("VARIANT-PLAIN") ? "plain" : "none";
}

describe("sticky bandit assignments", () => {
  it("keeps a returning visitor's variant across many page views while the posterior shifts, and a new visitor follows the posterior", async () => {
    const experiment = `hero_bandit_${crypto.randomUUID().slice(0, 8)}`;
    await publishRules(banditDocument(experiment, "plain", 1), 1);
    const returning = await newVisitor();
    expect(await heroOf(returning)).toBe("plain");
    // Remembered after the answer, in the visitor's own object.
    await eventually(async () => ((await exported(returning)).assignments[experiment] === "plain" ? true : undefined));

    // The posterior moves to the other variant.
    await publishRules(banditDocument(experiment, "bold", 2), 2);
    const feedback = recordingFeedbackQueue();
    const shown = [];
    for (let view = 0; view < 25; view++) shown.push(await heroOf(returning, { FEEDBACK_QUEUE: feedback.queue, EXPOSURE_BATCH_MS: "0" }));
    expect(new Set(shown)).toEqual(new Set(["plain"]));

    const newcomers = [];
    for (let visitor = 0; visitor < 5; visitor++) newcomers.push(await heroOf(await newVisitor()));
    expect(newcomers.filter((variant) => variant === "bold").length).toBeGreaterThanOrEqual(4);

    // The exposures, which clicks and conversions are attributed to, name the kept variant.
    await eventually(async () => (feedback.sent.length > 0 ? true : undefined));
    const variants = (feedback.sent.flat() as DecisionBatchMessage[])
      .flatMap((message) => message.decisions)
      .flatMap((decision) => decision.assignments)
      .filter((assignment) => assignment.experiment === experiment)
      .map((assignment) => assignment.variant);
    expect(variants.length).toBeGreaterThan(0);
    expect(new Set(variants)).toEqual(new Set(["plain"]));
  });

  it("starts everyone afresh when a version gives the experiment a new id", async () => {
    const experiment = `hero_bandit_${crypto.randomUUID().slice(0, 8)}`;
    await publishRules(banditDocument(experiment, "plain", 1), 1);
    const visitor = await newVisitor();
    expect(await heroOf(visitor)).toBe("plain");
    await eventually(async () => ((await exported(visitor)).assignments[experiment] === "plain" ? true : undefined));

    const renamed = `${experiment}_v2`;
    await publishRules(banditDocument(renamed, "bold", 2), 2);
    expect(await heroOf(visitor)).toBe("bold");
    await eventually(async () => ((await exported(visitor)).assignments[renamed] === "bold" ? true : undefined));
  });
});
