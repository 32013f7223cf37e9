/**
 * The bandit's live counts follow the experiment's `reward`: clicks by default, conversions when
 * asked, read from the same `ExperimentStats` rows the report shows.
 */
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { compileCheckedRules as compileRules } from "../../../shared/rules/checked.ts";
import { decide } from "../../../shared/rules/decide.ts";
import { RulesDocument } from "../../../shared/rules/document.ts";
import { liveCounts } from "../../../workers/decide/experiment-counts.ts";

const rewards: { reward: "clicks" | "conversions" | undefined; successes: { a: number; b: number } }[] = [
  { reward: undefined, successes: { a: 3, b: 1 } },
  { reward: "clicks", successes: { a: 3, b: 1 } },
  { reward: "conversions", successes: { a: 0, b: 2 } },
];

it.each(rewards)("counts successes as the reward says: $reward", async ({ reward, successes }) => {
  const id = `reward_${crypto.randomUUID().slice(0, 8)}`;
  const rules = compileRules(
    RulesDocument.parse({
      version: 1,
      slots: { hero: { selector: "#hero" } },
      experiments: { [id]: { variants: ["a", "b"], allocation: "bandit", ...(reward === undefined ? {} : { reward }) } },
      rules: [{ id: "hero", experiment: { id, variants: { a: {}, b: {} } } }],
    }),
  );
  const update = (recordId: string, variant: string, kind: "trials" | "successes" | "conversions") => ({
    id: recordId,
    variant,
    trials: kind === "trials" ? 1 : 0,
    successes: kind === "successes" ? 1 : 0,
    conversions: kind === "conversions" ? 1 : 0,
    revenue: kind === "conversions" ? 10 : 0,
  });
  await env.EXPERIMENT_STATS.getByName(id).add([
    {
      delivery: "decisions:1",
      updates: Array.from({ length: 10 }, (_, index) => update(`e${index}`, index < 5 ? "a" : "b", "trials")),
    },
    ...["a", "a", "a", "b"].map((variant, index) => ({ delivery: `click:${index}`, updates: [update(`c${index}`, variant, "successes")] })),
    ...["b", "b"].map((variant, index) => ({ delivery: `conversion:${index}`, updates: [update(`o${index}`, variant, "conversions")] })),
  ]);
  const pending: Promise<unknown>[] = [];
  const now = Date.now();
  liveCounts(env, rules, now, (promise) => pending.push(promise));
  await Promise.all(pending);
  const counts = liveCounts(env, rules, now, (promise) => pending.push(promise))(id);
  expect(counts).toEqual({ a: { successes: successes.a, trials: 5 }, b: { successes: successes.b, trials: 5 } });
});

it("estimates the bandit's shares when it refreshes the counts, so a page only draws its variant", async () => {
  const id = `warm_${crypto.randomUUID().slice(0, 8)}`;
  const rules = compileRules(
    RulesDocument.parse({
      version: 1,
      slots: { hero: { selector: "#hero" } },
      experiments: { [id]: { variants: ["a", "b", "c"], allocation: "bandit" } },
      rules: [{ id: "hero", experiment: { id, variants: { a: {}, b: {}, c: {} } } }],
    }),
  );
  await env.EXPERIMENT_STATS.getByName(id).add([
    { delivery: "decisions:1", updates: [{ id: "e1", variant: "a", trials: 1, successes: 0, conversions: 0, revenue: 0 }] },
  ]);
  const pending: Promise<unknown>[] = [];
  const now = Date.now();
  liveCounts(env, rules, now, (promise) => pending.push(promise));
  await Promise.all(pending);
  let draws = 0;
  const decision = decide(rules, {
    path: "/",
    attributes: {},
    now,
    unit: "visitor-1",
    model: () => undefined,
    banditCounts: liveCounts(env, rules, now, (promise) => pending.push(promise)),
    random: () => {
      draws++;
      return 0.5;
    },
  });
  expect(decision.allocations[id]).toBeDefined();
  // One draw picks the variant; the thousands that estimate the shares happened in the background.
  expect(draws).toBe(1);
});
