/**
 * The three scenarios, each driving the running Worker through its public endpoints and reading
 * back only what Tailor recorded (feedback records upstream, the admin experiment report):
 *
 * - **lift**: a behavioural rule against the global holdout; the visitors' true conversion rates
 *   with and without the personalization are known, so the estimate can be checked against them;
 * - **bandit**: three variants with known click rates, returning visitors, several seeds; Tailor's
 *   per-event Thompson sampling (the real Worker) against the same sampler refreshed hourly
 *   (`model.ts`, over the same arrivals and click draws);
 * - **srm**: a fair split and a split served differently from its plan, through the real sample
 *   ratio check.
 * @module
 */
import { productsIn } from "../../demo-shop/catalog.ts";
import { inParallel, type Progress, simulatedVisitor, sleep, type TailorClient, waitFor, withRetries } from "./client.ts";
import { arrivals, cumulativeRegret, differenceOfProportions, hourlyArm, type Interval, median, seededRandom } from "./model.ts";

/** When the simulated world starts; event timestamps are this plus simulated time. */
export const SIMULATED_START = Date.parse("2026-12-01T08:00:00Z");
const HOUR_MS = 3_600_000;

export const LIFT_RULE = "electronics-hero";
export const LIFT_TRUTH = { treated: 0.14, holdout: 0.08, electronicsShare: 0.6 } as const;

/** Phase 1: the behavioural rule, half of all visitors in the holdout. */
export function liftDocument(version: number) {
  return {
    version,
    description: "Simulation: a behavioural rule measured against the holdout",
    slots: { hero: { selector: '[data-slot="hero"]' } },
    holdout: { share: 0.5, seed: "simulation-holdout" },
    rules: [
      {
        id: LIFT_RULE,
        pages: ["/"],
        condition: { "behavior.views_10m.category.electronics": { $gte: 2 } },
        actions: { hero: { type: "setHtml", html: "<h1>Still thinking about new tech?</h1><p>Up to 20% off electronics this week.</p>" } },
      },
    ],
  };
}

export interface LiftResult {
  visitors: number;
  /** Visitors whose page or order never got through, even after retries. */
  failedRequests: number;
  /** What the visitors saw, as the simulator observed it in the pages. */
  observed: { treated: number; holdout: number; other: number };
  /** Counted from the exposure and conversion records Tailor delivered upstream. */
  recorded: { treated: { trials: number; successes: number }; holdout: { trials: number; successes: number } };
  trueRates: { treated: number; holdout: number };
  trueLift: number;
  lift: Interval;
  relativeLift: number;
  trueRelativeLift: number;
  intervalContainsTruth: boolean;
}

/**
 * Visitors browse (two product views in their favourite category), load the homepage, and later
 * order with their true rate: 14% for electronics browsers who saw the electronics hero, 8% for
 * those in the holdout who did not. The lift and its interval come from Tailor's own records.
 */
export async function runLift(client: TailorClient, visitors: number, progress: Progress): Promise<LiftResult> {
  const random = seededRandom(2_026);
  const plan = Array.from({ length: visitors }, (_, index) => ({
    visitor: simulatedVisitor("lift", index),
    electronics: random() < LIFT_TRUTH.electronicsShare,
    orderDraw: random(),
    product: Math.floor(random() * 14),
    at: new Date(SIMULATED_START + (index * 24 * HOUR_MS) / visitors),
  }));
  const groups: ("treated" | "holdout" | "other")[] = new Array(visitors).fill("other");
  let done = 0;
  let failed = 0;
  await inParallel(visitors, 8, async (index) => {
    const entry = plan[index];
    if (entry === undefined) return;
    const { visitor, electronics, product, at } = entry;
    const products = productsIn(electronics ? "electronics" : "home");
    const viewed = [products[product], products[product + 1]].filter((item) => item !== undefined);
    try {
      await withRetries(() =>
        client.track(
          visitor,
          viewed.map((item) => ({
            event: "Product Viewed",
            properties: { product_id: item.id, category: item.category, price: item.price, name: item.name },
          })),
          at,
        ),
      );
      const slots = await withRetries(() => client.page(visitor));
      const shown = slots.some((slot) => slot.rule === LIFT_RULE);
      groups[index] = shown ? "treated" : electronics ? "holdout" : "other";
    } catch {
      // Never got the page: the visitor leaves without ordering.
      failed++;
    }
    progress.update(`lift: ${++done}/${visitors} visitors browsed and saw the homepage`);
  });
  const exposed = groups.filter((group) => group !== "other").length;
  // Orders count only against exposures Tailor remembered, which happens once the consumer has
  // delivered them: wait for the records upstream, then a little for the memory write after them.
  const exposures = () => client.feedback("exposure").filter((record) => record.ruleId === LIFT_RULE);
  await waitFor(() => exposures().length >= exposed, 60_000);
  await sleep(3_000);
  let ordered = 0;
  let expectedConversions = 0;
  await inParallel(visitors, 8, async (index) => {
    const entry = plan[index];
    if (entry === undefined) return;
    const { visitor, orderDraw, at } = entry;
    const group = groups[index] ?? "other";
    const rate = group === "treated" ? LIFT_TRUTH.treated : group === "holdout" ? LIFT_TRUTH.holdout : 0.05;
    if (orderDraw < rate) {
      if (group !== "other") expectedConversions++;
      await client.track(
        visitor,
        [{ event: "Order Completed", properties: { order_id: `order-${index}`, revenue: 80, currency: "EUR" } }],
        new Date(at.getTime() + 20 * 60_000),
      );
    }
    progress.update(`lift: ${++ordered}/${visitors} visitors decided whether to order`);
  });
  const conversions = () => client.feedback("conversion").filter((record) => record.ruleId === LIFT_RULE);
  await waitFor(() => conversions().length >= expectedConversions, 60_000);
  await sleep(1_000);

  const holdoutOf = new Map<string, boolean>();
  for (const record of exposures()) holdoutOf.set(String(record.visitor), record.holdout === true);
  const converted = new Set(conversions().map((record) => String(record.visitor)));
  const count = (holdout: boolean) => {
    const members = [...holdoutOf].filter(([, inHoldout]) => inHoldout === holdout).map(([visitor]) => visitor);
    return { trials: members.length, successes: members.filter((visitor) => converted.has(visitor)).length };
  };
  const treated = count(false);
  const holdout = count(true);
  const lift = differenceOfProportions(treated, holdout);
  const trueLift = LIFT_TRUTH.treated - LIFT_TRUTH.holdout;
  const holdoutRate = holdout.trials === 0 ? 0 : holdout.successes / holdout.trials;
  const result: LiftResult = {
    visitors,
    failedRequests: failed,
    observed: {
      treated: groups.filter((group) => group === "treated").length,
      holdout: groups.filter((group) => group === "holdout").length,
      other: groups.filter((group) => group === "other").length,
    },
    recorded: { treated, holdout },
    trueRates: { treated: LIFT_TRUTH.treated, holdout: LIFT_TRUTH.holdout },
    trueLift,
    lift,
    relativeLift: holdoutRate === 0 ? 0 : lift.estimate / holdoutRate,
    trueRelativeLift: trueLift / LIFT_TRUTH.holdout,
    intervalContainsTruth: lift.low <= trueLift && trueLift <= lift.high,
  };
  progress.done(
    `lift: treated ${treated.successes}/${treated.trials}, holdout ${holdout.successes}/${holdout.trials}; lift ${percentPoints(lift.estimate)} (95% ${percentPoints(lift.low)} to ${percentPoints(lift.high)}), true ${percentPoints(trueLift)}`,
  );
  return result;
}

export function percentPoints(value: number): string {
  return `${value >= 0 ? "+" : ""}${(value * 100).toFixed(2)} pp`;
}

export const BANDIT_RATES = [0.04, 0.05, 0.07] as const;
export const BANDIT_VARIANTS = ["a", "b", "c"] as const;
export const SRM_PLANNED = [0.5, 0.5] as const;
/** The split the skewed experiment is served with, while its plan (and the report) says 50/50. */
export const SRM_SERVED_SKEW = [0.65, 0.35] as const;

/** A path whose decisions show which rules version is live, without exposures. */
export const PROBE_PATH = "/sim/probe";

/**
 * CLICK_TIMING: a visitor clicks seconds after the page appears, while Tailor's pipeline (queue
 * batch, consumer, exposure memory) takes about a second in production. Time compressed, the
 * click would otherwise overtake its own exposure: a returning visitor's click would then find only
 * their previous visit's exposure remembered and be credited to that visit's variant. So the
 * simulated click is sent once the exposure has been delivered upstream, plus this margin for the
 * memory write that follows delivery.
 */
const CLICK_AFTER_DELIVERY_MS = 500;

const banditId = (seed: number) => `bandit-${seed}`;

/** Phase 2: one bandit per seed (each on its own path) and the two fixed splits for the sample ratio check. */
export function experimentsDocument(version: number, seeds: readonly number[], skewedWeights: readonly number[]) {
  const hero = (text: string) => ({ hero: { type: "setText", text } });
  return {
    version,
    description: "Simulation: bandits per seed and two fixed splits",
    slots: { hero: { selector: '[data-slot="hero"]' } },
    experiments: {
      ...Object.fromEntries(seeds.map((seed) => [banditId(seed), { variants: [...BANDIT_VARIANTS], allocation: "bandit" }])),
      "srm-fair": { variants: ["a", "b"], weights: [...SRM_PLANNED] },
      "srm-skewed": { variants: ["a", "b"], weights: [...skewedWeights] },
    },
    rules: [
      // Changes nothing and logs nothing: it only lets the simulator see which version decides.
      { id: "probe", pages: [PROBE_PATH] },
      ...seeds.map((seed) => ({
        id: `${banditId(seed)}-rule`,
        pages: [`/sim/${banditId(seed)}`],
        experiment: { id: banditId(seed), variants: { a: hero("Variant A"), b: hero("Variant B"), c: hero("Variant C") } },
      })),
      ...["srm-fair", "srm-skewed"].map((id) => ({
        id: `${id}-rule`,
        pages: [`/sim/${id}`],
        experiment: { id, variants: { a: hero("A"), b: hero("B") } },
      })),
    ],
  };
}

export interface BanditPlan {
  seeds: number[];
  arrivals: number;
  visitors: number;
  hours: number;
  /** Page views per real second per seed the simulator aims at (all seeds run side by side). */
  viewsPerSecond: number;
}

export interface BanditSeedResult {
  seed: number;
  perEventRegret: number;
  hourlyRegret: number;
  ratio: number;
  failedDecisions: number;
  /** Views per variant chosen by the Worker, and by the hourly arm. */
  perEventViews: Record<string, number>;
  hourlyViews: Record<string, number>;
  /** Clicks the simulated visitors sent, per variant they were shown; compare with the report's successes. */
  clicksSent: Record<string, number>;
  /** What Tailor's experiment report counted at the end. */
  report: Record<string, { trials: number; successes: number }>;
  /** Cumulative regret at each simulated-hour tenth, for the chart. */
  curve: { hour: number; perEvent: number; hourly: number }[];
}

export interface BanditResult {
  trueRates: readonly number[];
  plan: BanditPlan;
  realSeconds: number;
  /** Real seconds one simulated hour took, and how far the counts the Worker decided with trailed the views. */
  realSecondsPerSimulatedHour: number;
  feedbackDelay: { medianViewsBehind: number; medianSeconds: number; samples: number };
  /** Share of returning visits that got the variant of the visitor's first visit (1 when assignments are sticky). */
  returningSameVariant: number;
  /** Whether the hourly arm kept returning visitors' variants, as the Worker was seen to. */
  sticky: boolean;
  seeds: BanditSeedResult[];
  /** Median over seeds of per-event regret ÷ hourly regret. */
  regretRatio: number;
  /** Mean regret over seeds of each arm, and in how many seeds the per-event arm had less. */
  meanPerEventRegret: number;
  meanHourlyRegret: number;
  perEventWins: number;
}

function viewsByVariant(choices: readonly number[]): Record<string, number> {
  const views: Record<string, number> = {};
  for (const choice of choices) {
    const name = BANDIT_VARIANTS[choice] ?? "none";
    views[name] = (views[name] ?? 0) + 1;
  }
  return views;
}

/**
 * Every seed's arrivals go to the Worker at `viewsPerSecond`, side by side; each view is a
 * decision (`/v1/decide`, which logs the exposure as a page does), and a visitor whose click draw
 * is below the shown variant's true rate clicks it (the tracker's `Promotion Clicked`).
 */
export async function runBandits(
  client: TailorClient,
  plan: BanditPlan,
  progress: Progress,
  alongside: () => string,
): Promise<BanditResult> {
  const streams = plan.seeds.map((seed) => arrivals(1_000 + seed, plan.arrivals, plan.visitors, plan.hours));
  const choices = plan.seeds.map(() => new Array<number>(plan.arrivals).fill(-1));
  const sent = plan.seeds.map(() => 0);
  const failures = plan.seeds.map(() => 0);
  const clicks = plan.seeds.map((): Record<string, number> => ({}));
  const clicking = new Set<Promise<void>>();
  const started = Date.now();
  const delays: { viewsBehind: number }[] = [];
  let running = true;

  // How far behind the counts are: views sent minus trials counted, sampled every second.
  const firstSeed = plan.seeds[0] ?? 1;
  const sampler = (async () => {
    while (running) {
      await sleep(1_000);
      const before = sent[0] ?? 0;
      try {
        const report = await client.report(banditId(firstSeed));
        const counted = Object.values(report.variants).reduce((sum, row) => sum + row.trials, 0);
        if (running && before > 0 && before < plan.arrivals) delays.push({ viewsBehind: Math.max(0, before - counted) });
      } catch {
        // A report that failed to load is a missing sample, not a failed run.
      }
    }
  })();

  await Promise.all(
    plan.seeds.map(async (seed, seedIndex) => {
      const stream = streams[seedIndex] ?? [];
      const inFlight = new Set<Promise<void>>();
      for (let index = 0; index < stream.length; index++) {
        const arrival = stream[index];
        if (arrival === undefined) continue;
        const due = started + (index * 1_000) / plan.viewsPerSecond;
        if (due > Date.now()) await sleep(due - Date.now());
        while (inFlight.size >= 4) await Promise.race(inFlight);
        const task = (async () => {
          const visitor = simulatedVisitor(`b${seed}v`, arrival.visitor);
          const at = new Date(SIMULATED_START + arrival.hour * HOUR_MS);
          try {
            const decided = await client.decide(visitor, `/sim/${banditId(seed)}`);
            const slot = decided.slots.find((candidate) => candidate.experiment === banditId(seed));
            const chosen = BANDIT_VARIANTS.indexOf((slot?.variant ?? "") as (typeof BANDIT_VARIANTS)[number]);
            if (chosen < 0 || slot === undefined) throw new Error("no variant decided");
            (choices[seedIndex] ?? [])[index] = chosen;
            if (arrival.clickDraw < (BANDIT_RATES[chosen] ?? 0)) {
              const sentClicks = clicks[seedIndex] ?? {};
              sentClicks[slot.variant ?? ""] = (sentClicks[slot.variant ?? ""] ?? 0) + 1;
              // The visitor clicks once Tailor has logged what it showed them (see CLICK_TIMING).
              const exposure = `${decided.decisionId}:${slot.slot}`;
              clicking.add(
                client
                  .exposureDelivered(exposure)
                  .then(() => sleep(CLICK_AFTER_DELIVERY_MS))
                  .then(() =>
                    withRetries(() =>
                      client.track(
                        visitor,
                        [{ event: "Promotion Clicked", properties: { promotion_id: slot.ruleId, position: slot.slot } }],
                        at,
                      ),
                    ),
                  )
                  .catch(() => {
                    failures[seedIndex] = (failures[seedIndex] ?? 0) + 1;
                  }),
              );
            }
          } catch {
            failures[seedIndex] = (failures[seedIndex] ?? 0) + 1;
          }
        })();
        inFlight.add(task);
        void task.finally(() => inFlight.delete(task));
        sent[seedIndex] = index + 1;
        if (seedIndex === 0) {
          const total = sent.reduce((sum, count) => sum + count, 0);
          progress.update(
            `bandit: simulated hour ${arrival.hour.toFixed(2)}/${plan.hours}, ${total}/${plan.arrivals * plan.seeds.length} views, ${Math.round((Date.now() - started) / 1_000)} s real; ${alongside()}`,
          );
        }
      }
      await Promise.all(inFlight);
    }),
  );
  await Promise.all(clicking);
  const realSeconds = (Date.now() - started) / 1_000;
  running = false;
  await sampler;

  // Whether the Worker keeps a returning visitor's variant: the hourly arm must do the same.
  let returning = 0;
  let same = 0;
  choices.forEach((picked, seedIndex) => {
    const first = new Map<number, number>();
    (streams[seedIndex] ?? []).forEach((arrival, index) => {
      const choice = picked[index] ?? -1;
      if (choice < 0) return;
      const known = first.get(arrival.visitor);
      if (known === undefined) first.set(arrival.visitor, choice);
      else {
        returning++;
        if (known === choice) same++;
      }
    });
  });
  const sticky = returning > 0 && same / returning > 0.99;

  const seeds: BanditSeedResult[] = [];
  for (const [seedIndex, seed] of plan.seeds.entries()) {
    const stream = streams[seedIndex] ?? [];
    const picked = choices[seedIndex] ?? [];
    // A failed decision showed the visitor nothing: no regret is charged to either arm for it.
    const answered = stream.filter((_, index) => (picked[index] ?? -1) >= 0);
    const perEventChoices = picked.filter((choice) => choice >= 0);
    const hourlyChoices = hourlyArm(answered, { rates: BANDIT_RATES, seed: 5_000 + seed, sticky });
    const perEventCurve = cumulativeRegret(BANDIT_RATES, perEventChoices);
    const hourlyCurve = cumulativeRegret(BANDIT_RATES, hourlyChoices);
    const perEventRegret = perEventCurve.at(-1) ?? 0;
    const hourlyRegret = hourlyCurve.at(-1) ?? 0;
    // The last clicks are still on their way through the queue: wait for them before reading.
    const sentClicks = Object.values(clicks[seedIndex] ?? {}).reduce((sum, count) => sum + count, 0);
    const credited = (counts: { variants: Record<string, { successes: number }> }) =>
      Object.values(counts.variants).reduce((sum, row) => sum + row.successes, 0);
    await waitFor(async () => credited(await client.report(banditId(seed))) >= sentClicks, 20_000, 500);
    const report = await client.report(banditId(seed));
    const step = Math.max(1, Math.floor(answered.length / 200));
    const curve: BanditSeedResult["curve"] = [];
    for (let index = 0; index < answered.length; index += step)
      curve.push({ hour: answered[index]?.hour ?? 0, perEvent: perEventCurve[index] ?? 0, hourly: hourlyCurve[index] ?? 0 });
    curve.push({ hour: plan.hours, perEvent: perEventRegret, hourly: hourlyRegret });
    seeds.push({
      seed,
      perEventRegret,
      hourlyRegret,
      ratio: hourlyRegret === 0 ? Number.NaN : perEventRegret / hourlyRegret,
      failedDecisions: failures[seedIndex] ?? 0,
      clicksSent: clicks[seedIndex] ?? {},
      perEventViews: viewsByVariant(perEventChoices),
      hourlyViews: viewsByVariant(hourlyChoices),
      report: Object.fromEntries(
        Object.entries(report.variants).map(([variant, row]) => [variant, { trials: row.trials, successes: row.successes }]),
      ),
      curve,
    });
  }
  const viewsPerSecond = (plan.arrivals * plan.seeds.length) / realSeconds / plan.seeds.length;
  const result: BanditResult = {
    trueRates: BANDIT_RATES,
    plan,
    realSeconds,
    realSecondsPerSimulatedHour: realSeconds / plan.hours,
    feedbackDelay: {
      medianViewsBehind: median(delays.map((delay) => delay.viewsBehind)),
      medianSeconds: median(delays.map((delay) => delay.viewsBehind)) / viewsPerSecond,
      samples: delays.length,
    },
    returningSameVariant: returning === 0 ? 0 : same / returning,
    sticky,
    seeds,
    regretRatio: median(seeds.map((seed) => seed.ratio)),
    meanPerEventRegret: seeds.reduce((sum, seed) => sum + seed.perEventRegret, 0) / seeds.length,
    meanHourlyRegret: seeds.reduce((sum, seed) => sum + seed.hourlyRegret, 0) / seeds.length,
    perEventWins: seeds.filter((seed) => seed.perEventRegret < seed.hourlyRegret).length,
  };
  progress.done(
    `bandit: regret per-event ÷ hourly by seed ${seeds.map((seed) => `${seed.perEventRegret.toFixed(1)}/${seed.hourlyRegret.toFixed(1)}`).join(", ")}; median ratio ${result.regretRatio.toFixed(2)}`,
  );
  return result;
}

export interface SrmExperimentResult {
  experiment: string;
  planned: readonly number[];
  served: readonly number[];
  trials: Record<string, number>;
  pValue: number;
  flagged: boolean;
}

export interface SrmResult {
  fair: SrmExperimentResult;
  skewed: SrmExperimentResult;
  /** How the skew is produced. */
  mechanism: string;
}

/** New visitors for both fixed splits, a few at a time (meant to run alongside the bandits). */
export async function driveSplits(client: TailorClient, visitors: number, onProgress: (done: number) => void): Promise<number> {
  let done = 0;
  let failed = 0;
  await inParallel(visitors * 2, 2, async (index) => {
    const experiment = index % 2 === 0 ? "srm-fair" : "srm-skewed";
    try {
      await client.decide(simulatedVisitor(experiment === "srm-fair" ? "srmf" : "srms", index >> 1), `/sim/${experiment}`);
    } catch {
      failed++;
    }
    onProgress(++done);
  });
  return failed;
}

/** The reports once every exposure is counted and the plan (50/50) is the live one again. */
export async function readSplits(client: TailorClient, expectedPerExperiment: number): Promise<SrmResult> {
  const total = (report: { variants: Record<string, { trials: number }> }) =>
    Object.values(report.variants).reduce((sum, row) => sum + row.trials, 0);
  await waitFor(
    async () => {
      const [fair, skewed] = await Promise.all([client.report("srm-fair"), client.report("srm-skewed")]);
      return skewed.weights?.[0] === SRM_PLANNED[0] && total(fair) >= expectedPerExperiment && total(skewed) >= expectedPerExperiment;
    },
    60_000,
    500,
  );
  const summary = async (experiment: string, served: readonly number[]): Promise<SrmExperimentResult> => {
    const report = await client.report(experiment);
    return {
      experiment,
      planned: SRM_PLANNED,
      served,
      trials: Object.fromEntries(Object.entries(report.variants).map(([variant, row]) => [variant, row.trials])),
      pValue: report.srm.pValue,
      flagged: report.srm.flagged,
    };
  };
  return {
    fair: await summary("srm-fair", SRM_PLANNED),
    skewed: await summary("srm-skewed", SRM_SERVED_SKEW),
    mechanism:
      "srm-skewed is served from a rules version whose weights are 65/35 while its plan is 50/50: the simulator publishes the plan again before reading the report, as when someone edits the split in KV mid-experiment. The check compares the exposures Tailor counted with the live plan.",
  };
}
