/**
 * The alert rules' queries (`ALERT_RULES`, provisioned into Grafana from
 * `docs/grafana/tailor-alerts.json`), run over data points written by the Worker's own helpers: a
 * healthy shop fires none of them, and each kind of trouble fires its rule.
 */
import { describe, expect, it } from "vitest";
import {
  recordDecision,
  recordDelivery,
  recordExposure,
  recordFallback,
  recordRollback,
  recordRulesRefused,
  recordSampleRatioMismatch,
} from "../../../workers/common/analytics.ts";
import { ALERT_RULES, DECISION_P99_BUDGET_MS } from "../../../workers/common/analytics-queries.ts";
import { collectingDataset, runQueries } from "../../support/worker/analytics-sql.ts";

type Dataset = ReturnType<typeof collectingDataset>;

/** A normal ten minutes: some fallbacks, a few origin hiccups, deliveries going through. */
function healthyShop(dataset: Dataset): void {
  for (let index = 0; index < 1_000; index++) recordDecision(dataset, "/products/1", 3, index % 10 === 0, 2 + (index % 100));
  for (let index = 0; index < 10; index++) recordFallback(dataset, "profile-unavailable", "/");
  recordFallback(dataset, "rewrite-error", "/");
  recordFallback(dataset, "model-missing:recs", "/");
  for (let index = 0; index < 3; index++) recordFallback(dataset, "origin-timeout", "/slow");
  for (let index = 0; index < 100; index++)
    recordExposure(dataset, { ruleId: "hero", slot: "hero", experiment: "hero_test", variant: "a", holdout: false });
  recordDelivery(dataset, "delivered", "tailor-feedback", 100);
  recordDelivery(dataset, "delivered", "tailor-events", 1_000);
  recordDelivery(dataset, "claims-dropped", "tailor-feedback", 4);
}

async function firing(write: (dataset: Dataset) => void): Promise<string[]> {
  const dataset = collectingDataset();
  healthyShop(dataset);
  write(dataset);
  const answers = await runQueries(dataset.points, Object.fromEntries(ALERT_RULES.map((rule) => [rule.id, rule.sql])));
  return ALERT_RULES.filter((rule) => {
    const rows = answers[rule.id] ?? [];
    expect(rows).toHaveLength(1);
    const value = rows[0]?.value;
    return typeof value === "number" && value > rule.above;
  }).map((rule) => rule.id);
}

const times = (count: number, write: () => void) => {
  for (let index = 0; index < count; index++) write();
};

describe("alert rules over what the Worker writes", () => {
  it("a healthy shop fires none", async () => {
    expect(await firing(() => {})).toEqual([]);
  });

  const cases: { name: string; rule: string; write: (dataset: Dataset) => void }[] = [
    {
      name: "profiles unavailable on 8% of decisions",
      rule: "fallback-rate",
      write: (d) => times(70, () => recordFallback(d, "profile-unavailable", "/")),
    },
    {
      name: "rules unavailable on 6% of decisions",
      rule: "fallback-rate",
      write: (d) => times(50, () => recordFallback(d, "rules-unavailable", "/")),
    },
    ...["model-missing:recs", "recommendations-empty:recs", "template-invalid:recs", "rewrite-error"].map((reason) => ({
      name: `action fallback ${reason} on 2% of decisions`,
      rule: "actions-failing",
      write: (d: Dataset) => times(20, () => recordFallback(d, reason, "/")),
    })),
    ...["origin-timeout", "origin-unavailable"].map((reason) => ({
      name: `${reason} 10 more times`,
      rule: "origin-errors",
      write: (d: Dataset) => times(10, () => recordFallback(d, reason, "/")),
    })),
    ...["tailor-events", "tailor-feedback"].map((queue) => ({
      name: `deliveries retried on ${queue}`,
      rule: "delivery-retries",
      write: (d: Dataset) => recordDelivery(d, "retried", queue, 100),
    })),
    ...["dead-lettered", "malformed"].map((outcome) => ({
      name: `one message ${outcome}`,
      rule: "dead-letters",
      write: (d: Dataset) => recordDelivery(d, outcome, "tailor-feedback", 1),
    })),
    {
      name: "a sample ratio mismatch flagged",
      rule: "sample-ratio-mismatch",
      write: (d) => recordSampleRatioMismatch(d, "hero_test", 1e-6, 20_000),
    },
    {
      name: "one automatic rollback",
      rule: "rollbacks",
      write: (d) => recordRollback(d, { ruleId: "hero", reason: "guardrail:error-rate" }),
    },
    {
      name: "a rollback with its experiment and versions",
      rule: "rollbacks",
      write: (d) =>
        recordRollback(d, { ruleId: "hero", reason: "guardrail:conversion-rate", experiment: "hero_test", fromVersion: 8, toVersion: 7 }),
    },
    {
      name: `2% of decisions slower than ${DECISION_P99_BUDGET_MS} ms`,
      rule: "decision-p99",
      write: (d) => times(25, () => recordDecision(d, "/", 3, false, DECISION_P99_BUDGET_MS * 3)),
    },
    { name: "a refused rules document", rule: "rules-refused", write: (d) => recordRulesRefused(d, 9, 8, "/slots/0/selector: invalid") },
    {
      name: "a refused rules pointer",
      rule: "rules-refused",
      write: (d) => recordRulesRefused(d, 0, 8, "rules:live: pointer is not a version"),
    },
  ];

  it.each(cases)("$name fires $rule", async ({ rule, write }) => {
    expect(await firing(write)).toContain(rule);
  });

  it("every rule is exercised above and stays quiet below its threshold", () => {
    const covered = new Set(cases.map(({ rule }) => rule));
    expect(ALERT_RULES.map((rule) => rule.id).filter((id) => !covered.has(id))).toEqual([]);
  });

  it("a few slow decisions, origin errors or action fallbacks below the thresholds stay quiet", async () => {
    const quiet = await firing((d) => {
      times(5, () => recordDecision(d, "/", 3, false, DECISION_P99_BUDGET_MS * 3));
      times(5, () => recordFallback(d, "origin-unavailable", "/"));
      times(5, () => recordFallback(d, "template-invalid:recs", "/"));
    });
    expect(quiet).toEqual([]);
  });
});
