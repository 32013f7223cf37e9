/**
 * The dashboard's Analytics Engine queries, run over data points written by the real helpers.
 * Analytics Engine speaks a ClickHouse dialect; the queries are translated mechanically to SQLite
 * (`sumIf` → `SUM(CASE ...)`), which checks their columns and logic against what the Worker writes.
 * Percentile queries, which have no SQLite counterpart, are checked for their columns only.
 */
import { expect, it } from "vitest";
import {
  recordDecision,
  recordDelivery,
  recordExposure,
  recordFallback,
  recordFeedback,
  recordRulesRefused,
} from "../../../workers/common/analytics.ts";
import { DASHBOARD_QUERIES } from "../../../workers/common/analytics-queries.ts";
import { MergedPoints } from "../../../workers/feedback/merged-points.ts";
import { collectingDataset, runQueries } from "../../support/worker/analytics-sql.ts";

it("answers the dashboard's questions from what the Worker writes", async () => {
  const dataset = collectingDataset();
  const { points } = dataset;
  const exposure = (variant: string, holdout = false) => ({
    ruleId: "hero-test",
    slot: "hero",
    path: "/",
    experiment: "hero_test",
    variant,
    holdout,
  });
  for (let index = 0; index < 100; index++) recordExposure(dataset, exposure(index % 2 === 0 ? "a" : "b"));
  // As the consumer writes them: ten equal exposures merged into one point counting ten.
  const merged = new MergedPoints();
  for (let index = 0; index < 10; index++) recordExposure(merged, exposure("a"));
  expect(merged.flush(dataset)).toBe(1);
  for (let index = 0; index < 10; index++)
    recordFeedback(dataset, { kind: "click", ruleId: "hero-test", slot: "hero", experiment: "hero_test", variant: "b" });
  for (let index = 0; index < 5; index++)
    recordFeedback(dataset, {
      kind: "conversion",
      ruleId: "hero-test",
      slot: "hero",
      experiment: "hero_test",
      variant: "b",
      event: "Order Completed",
      value: 40,
    });
  for (let index = 0; index < 40; index++) recordDecision(dataset, "/", 2, false, 3 + index / 10);
  recordFallback(dataset, "profile-unavailable", "/");
  recordFallback(dataset, "profile-unavailable", "/");
  recordDelivery(dataset, "delivered", "tailor-feedback", 95);
  recordDelivery(dataset, "dead-lettered", "tailor-feedback", 5);
  for (let index = 0; index < 3; index++) recordRulesRefused(dataset, 7, 6, "/slots/hero/selector: sibling combinators are not supported");

  const results = await runQueries(
    points,
    Object.fromEntries(DASHBOARD_QUERIES.filter((query) => !/quantile/i.test(query.sql)).map((query) => [query.id, query.sql])),
  );

  expect(results["rule-variant-funnel"]).toEqual([
    { rule: "hero-test", variant: "a", exposures: 60, clicks: 0, conversions: 0, revenue: 0, conversion_rate: 0 },
    { rule: "hero-test", variant: "b", exposures: 50, clicks: 10, conversions: 5, revenue: 200, conversion_rate: 0.1 },
  ]);
  expect(results["fallback-rate"]).toEqual([{ fallback_rate: 0.05 }]);
  expect(results["fallbacks-by-reason"]).toEqual([{ reason: "profile-unavailable", fallbacks: 2 }]);
  expect(results.delivery).toEqual([
    { queue: "tailor-feedback", outcome: "dead-lettered", messages: 5 },
    { queue: "tailor-feedback", outcome: "delivered", messages: 95 },
  ]);
  expect(results["rules-refused"]).toEqual([
    { refused_version: 7, serving_version: 6, first_problem: "/slots/hero/selector: sibling combinators are not supported", checks: 3 },
  ]);
  // The percentile query has no SQLite form; its columns must still be ones the Worker writes.
  const latency = DASHBOARD_QUERIES.find((query) => query.id === "decision-latency");
  expect(latency?.sql).toMatch(/double3/);
  expect(points.find((point) => point.blobs?.[0] === "decision")?.doubles?.[2]).toBeGreaterThan(0);
});
