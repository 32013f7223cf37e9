/**
 * The pure decision: priority, one winner per slot, page targeting, schedules, audiences,
 * experiments (assignment, namespaces, forced previews, bandits), holdout, models and fallbacks.
 */
import { describe, expect, it } from "vitest";
import { chooseVariation, getBucketRanges, hash } from "../../../shared/experiments/bucketing.ts";
import { sampleRatioMismatch } from "../../../shared/experiments/srm.ts";
import { type AttributeTree, nestAttributes } from "../../../shared/profile/behavior.ts";
import { compileCheckedRules as compileRules } from "../../../shared/rules/checked.ts";
import { type DecisionInput, decide } from "../../../shared/rules/decide.ts";
import { RulesDocument, type RulesDocumentInput } from "../../../shared/rules/document.ts";

const NOW = Date.parse("2026-11-26T12:00:00Z");
const SLOTS = {
  hero: { selector: '[data-slot="hero"]' },
  banner: { selector: '[data-slot="banner"]' },
  recommendations: { selector: '[data-slot="recommendations"]' },
};
const text = (value: string) => ({ type: "setText" as const, text: value });

function compile(document: Omit<RulesDocumentInput, "version" | "slots"> & Partial<Pick<RulesDocumentInput, "slots">>) {
  return compileRules(RulesDocument.parse({ version: 1, slots: SLOTS, ...document }));
}

function run(rules: ReturnType<typeof compile>, attributes: Record<string, unknown> = {}, overrides: Partial<DecisionInput> = {}) {
  return decide(rules, {
    path: "/",
    attributes: nestAttributes({} as AttributeTree, attributes),
    now: NOW,
    unit: "visitor-pseudonym-0001",
    model: (name) => rules.models.get(name),
    explain: true,
    ...overrides,
  });
}

describe("choosing rules", () => {
  it("gives each slot to the highest-priority matching rule, and lets a rule keep the slots nobody else took", () => {
    const rules = compile({
      rules: [
        { id: "low", priority: 1, actions: { hero: text("low hero"), banner: text("low banner") } },
        { id: "high", priority: 10, condition: { "geo.country": "DE" }, actions: { hero: text("high hero") } },
      ],
    });
    const german = run(rules, { "geo.country": "DE" });
    expect(german.slots.map((slot) => [slot.slot, slot.ruleId])).toEqual([
      ["hero", "high"],
      ["banner", "low"],
    ]);
    const french = run(rules, { "geo.country": "FR" });
    expect(french.slots.map((slot) => [slot.slot, slot.ruleId])).toEqual([
      ["hero", "low"],
      ["banner", "low"],
    ]);
    expect(french.trace?.find((entry) => entry.ruleId === "high")?.reason).toBe("condition not met");
  });

  it("breaks priority ties by document order", () => {
    const rules = compile({
      rules: [
        { id: "first", actions: { hero: text("1") } },
        { id: "second", actions: { hero: text("2") } },
      ],
    });
    expect(run(rules).slots[0]?.ruleId).toBe("first");
  });

  it("only applies a rule on the pages it targets", () => {
    const rules = compile({ rules: [{ id: "category", pages: ["/c/*", "/sale"], actions: { banner: text("category banner") } }] });
    expect(run(rules, {}, { path: "/c/outdoor" }).slots).toHaveLength(1);
    expect(run(rules, {}, { path: "/sale" }).slots).toHaveLength(1);
    expect(run(rules, {}, { path: "/sale/old" }).slots).toHaveLength(0);
    expect(run(rules, {}, { path: "/" }).trace?.[0]?.reason).toBe("not targeted at this page");
  });

  it("respects a schedule window, start inclusive and end exclusive", () => {
    const rules = compile({
      rules: [
        { id: "sale", schedule: { start: "2026-11-27T00:00:00Z", end: "2026-11-30T00:00:00Z" }, actions: { banner: text("Black Friday") } },
      ],
    });
    expect(run(rules).slots).toHaveLength(0);
    expect(run(rules, {}, { now: Date.parse("2026-11-27T00:00:00Z") }).slots).toHaveLength(1);
    expect(run(rules, {}, { now: Date.parse("2026-11-30T00:00:00Z") }).slots).toHaveLength(0);
  });

  it("requires a named audience and allows it as a saved group too", () => {
    const rules = compile({
      audiences: { big_spenders: { "cart.value": { $gte: 200 } } },
      rules: [
        { id: "vip", audience: "big_spenders", actions: { hero: text("VIP") } },
        { id: "also-vip", condition: { $savedGroup: { id: "big_spenders" } }, actions: { banner: text("VIP banner") } },
      ],
    });
    expect(run(rules, { "cart.value": 250 }).slots.map((slot) => slot.ruleId)).toEqual(["vip", "also-vip"]);
    expect(run(rules, { "cart.value": 20 }).slots).toEqual([]);
    expect(rules.profileAttributes).toEqual(["cart.value"]);
  });

  it("takes page actions from the highest-priority matching rule that has them", () => {
    const rules = compile({
      rules: [
        { id: "redirect", priority: 5, pages: ["/old"], page: { redirect: { to: "/new" }, headers: { "x-campaign": "autumn" } } },
        { id: "header", pages: ["/old"], page: { headers: { "x-other": "1" } } },
      ],
    });
    const decision = run(rules, {}, { path: "/old" });
    expect(decision.page).toEqual({ redirect: { to: "/new", status: 302 }, headers: { "x-campaign": "autumn" }, ruleId: "redirect" });
  });
});

describe("experiments", () => {
  const experimentDocument = {
    experiments: { hero_test: { variants: ["control", "treatment"], weights: [0.5, 0.5] } },
    rules: [
      {
        id: "hero-experiment",
        priority: 10,
        experiment: { id: "hero_test", variants: { control: {}, treatment: { hero: text("New hero") } } },
      },
      { id: "fallback-hero", actions: { hero: text("Fallback") } },
    ],
  };

  it("assigns the same variant GrowthBook would, reserves the slot in control, and logs both", () => {
    const rules = compile(experimentDocument);
    let seen = { control: 0, treatment: 0 };
    for (let index = 0; index < 400; index++) {
      const unit = `visitor-${index}`;
      const decision = run(rules, {}, { unit });
      const expected = chooseVariation(hash("hero_test", unit, 2) ?? 0, getBucketRanges(2, 1, [0.5, 0.5])) === 0 ? "control" : "treatment";
      expect(decision.assignments).toEqual([{ ruleId: "hero-experiment", slot: "hero", experiment: "hero_test", variant: expected }]);
      // The control group sees the default content, not the lower-priority rule's hero.
      expect(decision.slots.map((slot) => slot.ruleId)).toEqual(expected === "treatment" ? ["hero-experiment"] : []);
      seen = { ...seen, [expected]: seen[expected] + 1 };
    }
    expect(seen.control).toBeGreaterThan(150);
    expect(seen.treatment).toBeGreaterThan(150);
  });

  it("lets a signed preview force a variant", () => {
    const rules = compile(experimentDocument);
    for (const variant of ["control", "treatment"]) {
      const decision = run(rules, {}, { forced: { hero_test: variant } });
      expect(decision.assignments[0]?.variant).toBe(variant);
    }
    expect(run(rules, {}, { forced: { hero_test: "nonsense" } }).assignments[0]?.variant).toMatch(/control|treatment/);
  });

  it("keeps visitors outside coverage or the namespace out, so other rules can take the slot", () => {
    const rules = compile({
      experiments: { narrow: { variants: ["a", "b"], namespace: ["hero", 0, 0.3] } },
      rules: [
        { id: "narrow-test", priority: 10, experiment: { id: "narrow", variants: { a: { hero: text("A") }, b: { hero: text("B") } } } },
        { id: "default-hero", actions: { hero: text("Default") } },
      ],
    });
    const outcomes = Array.from({ length: 300 }, (_, index) => run(rules, {}, { unit: `u${index}` }).slots[0]?.ruleId);
    const inside = outcomes.filter((id) => id === "narrow-test").length;
    expect(inside).toBeGreaterThan(40);
    expect(inside).toBeLessThan(150);
    expect(outcomes.filter((id) => id === "default-hero").length).toBe(300 - inside);
  });

  it("moves bandit traffic towards the variant that converts better", () => {
    const rules = compile({
      experiments: {
        banner_bandit: {
          variants: ["plain", "bold"],
          allocation: "bandit",
          counts: { plain: { successes: 5, trials: 500 }, bold: { successes: 60, trials: 500 } },
        },
      },
      rules: [
        {
          id: "banner-bandit",
          experiment: { id: "banner_bandit", variants: { plain: { banner: text("plain") }, bold: { banner: text("BOLD") } } },
        },
      ],
    });
    let state = 42;
    const random = () => {
      state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
      return state / 2_147_483_648;
    };
    const chosen = Array.from({ length: 500 }, (_, index) => run(rules, {}, { unit: `u${index}`, random }).assignments[0]?.variant);
    expect(chosen.filter((variant) => variant === "bold").length).toBeGreaterThan(450);
    const live = run(
      rules,
      {},
      { random, banditCounts: () => ({ plain: { successes: 90, trials: 100 }, bold: { successes: 1, trials: 100 } }) },
    );
    expect(live.assignments[0]?.variant).toBe("plain");
  });

  it("records the share of traffic each variant had at assignment, and the traffic follows those shares", () => {
    const rules = compile({
      experiments: { banner_bandit: { variants: ["plain", "bold", "wild"], allocation: "bandit" } },
      rules: [
        {
          id: "banner-bandit",
          experiment: {
            id: "banner_bandit",
            variants: { plain: { banner: text("plain") }, bold: { banner: text("BOLD") }, wild: { banner: text("WILD") } },
          },
        },
      ],
    });
    let state = 7;
    const random = () => {
      state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
      return state / 2_147_483_648;
    };
    // Counts as the decision step holds them between two refreshes: one object, read by every page.
    const phases = [
      { plain: { successes: 12, trials: 100 }, bold: { successes: 9, trials: 100 }, wild: { successes: 3, trials: 100 } },
      { plain: { successes: 20, trials: 300 }, bold: { successes: 30, trials: 300 }, wild: { successes: 25, trials: 300 } },
    ];
    const observed = [0, 0, 0];
    const planned = [0, 0, 0];
    const variants = ["plain", "bold", "wild"];
    for (const counts of phases) {
      let sharesSeen: Record<string, number> | undefined;
      for (let index = 0; index < 3_000; index++) {
        const decision = run(rules, {}, { unit: `u${index}`, random, banditCounts: () => counts, explain: false });
        const shares = decision.allocations.banner_bandit;
        expect(shares).toBeDefined();
        // Estimated once per counts object, not per page: every decision of the phase has the same shares.
        if (sharesSeen === undefined) sharesSeen = shares;
        else expect(shares).toBe(sharesSeen);
        const chosen = variants.indexOf(decision.assignments[0]?.variant ?? "");
        observed[chosen] = (observed[chosen] ?? 0) + 1;
        variants.forEach((variant, position) => {
          planned[position] = (planned[position] ?? 0) + (shares?.[variant] ?? 0);
        });
      }
      expect(Object.values(sharesSeen ?? {}).reduce((sum, share) => sum + share, 0)).toBeCloseTo(1, 9);
    }
    // Uneven on purpose (the bandit learns), yet exactly what was planned: no mismatch.
    expect(sampleRatioMismatch(observed).flagged).toBe(true);
    expect(sampleRatioMismatch(observed, planned).flagged).toBe(false);
  });

  it("records no bandit shares for a variant forced by a preview", () => {
    const rules = compile({
      experiments: { banner_bandit: { variants: ["plain", "bold"], allocation: "bandit" } },
      rules: [
        {
          id: "banner-bandit",
          experiment: { id: "banner_bandit", variants: { plain: { banner: text("plain") }, bold: { banner: text("BOLD") } } },
        },
      ],
    });
    const decision = run(rules, {}, { forced: { banner_bandit: "bold" } });
    expect(decision.assignments[0]?.variant).toBe("bold");
    expect(decision.allocations).toEqual({});
  });
});

describe("sticky bandit arms", () => {
  const rules = compile({
    experiments: {
      banner_bandit: {
        variants: ["plain", "bold", "fancy"],
        allocation: "bandit",
        counts: { plain: { successes: 1, trials: 1_000 }, bold: { successes: 950, trials: 1_000 }, fancy: { successes: 1, trials: 1_000 } },
      },
    },
    rules: [
      {
        id: "banner-bandit",
        experiment: {
          id: "banner_bandit",
          variants: { plain: { banner: text("plain") }, bold: { banner: text("BOLD") }, fancy: { banner: text("fancy") } },
        },
      },
    ],
  });
  const posteriors = [
    { plain: { successes: 900, trials: 1_000 }, bold: { successes: 1, trials: 1_000 }, fancy: { successes: 1, trials: 1_000 } },
    { plain: { successes: 1, trials: 1_000 }, bold: { successes: 900, trials: 1_000 }, fancy: { successes: 1, trials: 1_000 } },
    { plain: { successes: 1, trials: 1_000 }, bold: { successes: 1, trials: 1_000 }, fancy: { successes: 900, trials: 1_000 } },
  ];

  it.each(["plain", "bold", "fancy"])("keeps a returning visitor on %s whatever the posterior says", (arm) => {
    for (const counts of posteriors) {
      for (let view = 0; view < 20; view++) {
        expect(run(rules, {}, { remembered: { banner_bandit: arm }, banditCounts: () => counts }).assignments[0]?.variant).toBe(arm);
      }
    }
  });

  it.each([
    ["nothing remembered", {}],
    ["another experiment's arm", { other_bandit: "plain" }],
    ["a variant the experiment no longer has", { banner_bandit: "retired" }],
  ])("follows the posterior for %s", (_, remembered) => {
    for (const [index, counts] of posteriors.entries()) {
      const favoured = ["plain", "bold", "fancy"][index];
      const chosen = Array.from(
        { length: 40 },
        (__, view) => run(rules, {}, { unit: `u${view}`, remembered, banditCounts: () => counts }).assignments[0]?.variant,
      );
      expect(chosen.filter((variant) => variant === favoured).length).toBeGreaterThanOrEqual(36);
    }
  });

  it("lets a signed preview's forced variant win over the remembered one", () => {
    const decision = run(rules, {}, { remembered: { banner_bandit: "plain" }, forced: { banner_bandit: "fancy" } });
    expect(decision.assignments[0]?.variant).toBe("fancy");
  });
});

describe("holdout", () => {
  it("shows nothing to the holdout group but still records what they would have seen", () => {
    const rules = compile({ holdout: { share: 0.2, seed: "holdout" }, rules: [{ id: "everyone", actions: { hero: text("Hello") } }] });
    let held = 0;
    for (let index = 0; index < 500; index++) {
      const decision = run(rules, {}, { unit: `u${index}` });
      const expected = (hash("holdout", `u${index}`, 2) ?? 1) < 0.2;
      expect(decision.holdout).toBe(expected);
      expect(decision.slots.length).toBe(expected ? 0 : 1);
      expect(decision.assignments).toHaveLength(1);
      if (expected) held++;
    }
    expect(held).toBeGreaterThan(60);
    expect(held).toBeLessThan(140);
  });
});

describe("models", () => {
  const document: Omit<RulesDocumentInput, "version" | "slots"> = {
    models: {
      intent: { type: "logistic" as const, intercept: -3, weights: { "behavior.views_1h.total": 0.8, "cart.items": 1.5 } },
      related: {
        type: "itemToItem" as const,
        related: { "el-01": ["el-02", "el-03", "el-04"], "od-01": ["od-02"] },
        items: {
          "el-02": { name: "Keyboard", url: "/p/el-02", price: 99 },
          "el-03": { name: "Earbuds", url: "/p/el-03", price: 59 },
          "el-04": { name: "Monitor", url: "/p/el-04" },
          "od-02": { name: "Shoes <b>", url: "/p/od-02", price: 120 },
          "hm-01": { name: "Skillet", url: "/p/hm-01", price: 35 },
        },
        fallback: ["hm-01"],
      },
    },
    rules: [
      { id: "high-intent", condition: { "models.intent": { $gte: 0.5 } }, actions: { banner: text("Free shipping today") } },
      {
        id: "recs",
        actions: {
          recommendations: {
            type: "recommendations" as const,
            model: "related",
            count: 3,
            template: '<a href="{{url}}">{{name}} {{price}}</a>',
          },
        },
      },
    ],
  };

  it("scores logistic models into models.<name> for conditions to use", () => {
    const rules = compile(document);
    expect(rules.profileAttributes.sort()).toEqual(["behavior.views_1h.total", "cart.items", "recency.last_products"]);
    const keen = run(rules, { "behavior.views_1h.total": 3, "cart.items": 1 });
    expect(keen.scores.intent).toBeCloseTo(1 / (1 + Math.exp(-(-3 + 2.4 + 1.5))), 10);
    expect(keen.slots.map((slot) => slot.ruleId)).toContain("high-intent");
    expect(run(rules, { "behavior.views_1h.total": 1 }).slots.map((slot) => slot.ruleId)).not.toContain("high-intent");
  });

  it("fills recommendations from recent views, newest first, escaped, with the fallback list last", () => {
    const rules = compile(document);
    const decision = run(rules, { "recency.last_products": ["od-01", "el-01"] });
    const recs = decision.slots.find((slot) => slot.slot === "recommendations");
    expect(recs?.action).toEqual({
      type: "setHtml",
      html: '<a href="/p/od-02">Shoes &#60;b&#62; 120.00</a><a href="/p/el-02">Keyboard 99.00</a><a href="/p/el-03">Earbuds 59.00</a>',
    });
    const stranger = run(rules, {});
    expect(stranger.slots.find((slot) => slot.slot === "recommendations")?.action).toEqual({
      type: "setHtml",
      html: '<a href="/p/hm-01">Skillet 35.00</a>',
    });
  });

  it("falls back to the default content when a model is missing", () => {
    const rules = compile(document);
    const decision = run(rules, { "behavior.views_1h.total": 10 }, { model: () => undefined });
    expect(decision.slots).toEqual([]);
    expect(decision.fallbacks.sort()).toEqual(["model-missing:intent", "model-missing:related"]);
  });
});
