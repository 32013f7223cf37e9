/**
 * A simulated experiment through the real pipeline: visitors see a variant chosen by Thompson
 * sampling, click with the variant's true rate, and the clicks flow back (tracker event →
 * Durable Object → feedback queue → consumer → ExperimentStats) to the next decisions. The
 * better variant's share of traffic must grow within the run. The sample ratio check must pass a
 * fair fixed split and flag a skewed one. Figures are printed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_RULES_SIGNING_KEY } from "../../scripts/lib/local-tailor.ts";
import { putLiveVersion } from "../../scripts/lib/signed-version.ts";
import { heroExperimentDocument } from "../support/hero-experiment.ts";
import { inParallel, type System, startSystem, visitorCookie } from "../support/system.ts";

const TRUE_RATES: Record<string, number> = { calm: 0.04, bold: 0.2 };
const VISITORS = 2_400;

let seed = 424_242;
function random(): number {
  seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
  return seed / 4_294_967_296;
}

let system: System;

beforeAll(async () => {
  system = await startSystem(
    heroExperimentDocument("hero_bandit", { hero_bandit: { variants: ["calm", "bold"], allocation: "bandit" } }, 1),
    {
      EXPERIMENT_STATS_TTL_MS: "300",
    },
  );
}, 180_000);

afterAll(async () => {
  await system.close();
});

async function publish(version: number, body: unknown): Promise<void> {
  // Signed as a publish signs it: pages serve nothing else.
  await putLiveVersion(await system.tailor.miniflare.getKVNamespace("RULES"), { ...(body as object), version }, LOCAL_RULES_SIGNING_KEY);
}

async function visit(index: number, prefix: string): Promise<string | undefined> {
  const cookie = visitorCookie(index, prefix);
  const html = await (await fetch(`${system.tailor.url}/`, { headers: { cookie, "user-agent": "Mozilla/5.0 system-test" } })).text();
  const variant = /data-p13n-variant="(\w+)"/.exec(html)?.[1];
  if (variant !== undefined && random() < (TRUE_RATES[variant] ?? 0)) {
    await fetch(`${system.tailor.url}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie, "cf-connecting-ip": `10.60.${index >> 8}.${index & 255}` },
      body: JSON.stringify({
        type: "track",
        event: "Promotion Clicked",
        messageId: `click-${prefix}-${index}`,
        properties: {
          promotion_id: "hero-test",
          position: "hero",
          creative: variant,
          experiment: /data-p13n-experiment="(\w+)"/.exec(html)?.[1],
        },
      }),
    });
  }
  return variant;
}

/** Waits until pages are decided with the given experiment (the isolate has the new rules). */
async function pickedUp(experiment: string): Promise<void> {
  const started = Date.now();
  for (let attempt = 0; Date.now() - started < 120_000; attempt++) {
    const html = await (
      await fetch(`${system.tailor.url}/`, {
        headers: { cookie: visitorCookie(attempt, "probe"), "user-agent": "Mozilla/5.0 system-test" },
      })
    ).text();
    if (html.includes(`data-p13n-experiment="${experiment}"`)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`rules with ${experiment} were not picked up`);
}

async function report(experiment: string): Promise<{
  variants: Record<string, { trials: number; successes: number }>;
  srm: { pValue: number; flagged: boolean; check: string };
}> {
  const response = await fetch(`${system.tailor.url}/admin/api/experiments/${experiment}`, {
    headers: { authorization: `Bearer ${system.adminToken}` },
  });
  return (await response.json()) as {
    variants: Record<string, { trials: number; successes: number }>;
    srm: { pValue: number; flagged: boolean; check: string };
  };
}

describe("simulated experiment", () => {
  it("moves traffic to the variant that gets more clicks", { timeout: 240_000 }, async () => {
    const chosen: string[] = [];
    // Visitors arrive in waves, so the feedback of one wave can reach the next.
    for (let wave = 0; wave < 12; wave++) {
      const size = VISITORS / 12;
      const wavePicks: string[] = [];
      await inParallel(size, 6, async (offset) => {
        const variant = await visit(wave * size + offset, "bandit");
        if (variant !== undefined) wavePicks.push(variant);
      });
      chosen.push(...wavePicks);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
    }
    const share = (picks: string[]) => picks.filter((variant) => variant === "bold").length / Math.max(1, picks.length);
    const first = share(chosen.slice(0, 400));
    const last = share(chosen.slice(-400));
    const stats = await report("hero_bandit");
    console.log(
      `bandit: share of "bold" (true click rate 20% vs 4%): first 400 visitors ${(first * 100).toFixed(1)}%, last 400 ${(last * 100).toFixed(1)}%; counts ${JSON.stringify(stats.variants)}`,
    );
    expect(last).toBeGreaterThan(first);
    expect(last).toBeGreaterThan(0.7);
    // A bandit working as intended splits unevenly on purpose: the check compares with its shares.
    expect(stats.srm.flagged).toBe(false);
    expect(stats.srm.check).toBe("chi-square against the bandit's shares at each assignment");
  });

  it("passes a fair split and flags a skewed one in the sample ratio check", { timeout: 240_000 }, async () => {
    const fairExperiment = { variants: ["calm", "bold"], weights: [0.5, 0.5] };
    await publish(2, heroExperimentDocument("hero_fair", { hero_fair: fairExperiment }, 2));
    await pickedUp("hero_fair");
    await inParallel(1_000, 6, async (index) => {
      await visit(index, "fair");
    });
    // A split that is not what was planned: assign 65/35 ...
    await publish(
      3,
      heroExperimentDocument(
        "hero_skewed",
        { hero_fair: fairExperiment, hero_skewed: { variants: ["calm", "bold"], weights: [0.65, 0.35] } },
        3,
      ),
    );
    await pickedUp("hero_skewed");
    await inParallel(1_000, 6, async (index) => {
      await visit(index, "skew");
    });
    // ... while the plan says 50/50, as when assignment or logging is broken.
    await publish(
      4,
      heroExperimentDocument(
        "hero_skewed",
        { hero_fair: fairExperiment, hero_skewed: { variants: ["calm", "bold"], weights: [0.5, 0.5] } },
        4,
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const fair = await report("hero_fair");
    const skewed = await report("hero_skewed");
    console.log(
      `srm: fair split ${JSON.stringify(fair.variants)} p=${fair.srm.pValue.toFixed(3)}; skewed split ${JSON.stringify(skewed.variants)} p=${skewed.srm.pValue.toExponential(2)}`,
    );
    expect((fair.variants.calm?.trials ?? 0) + (fair.variants.bold?.trials ?? 0)).toBeGreaterThan(900);
    expect(fair.srm.flagged).toBe(false);
    expect(skewed.srm.flagged).toBe(true);
  });
});
