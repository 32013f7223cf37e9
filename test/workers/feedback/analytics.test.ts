/**
 * The dashboard's Analytics Engine queries, run over data points written by the real helpers.
 * Analytics Engine speaks a ClickHouse dialect; the queries are translated mechanically to SQLite
 * (`sumIf` → `SUM(CASE ...)`), which checks their columns and logic against what the Worker writes.
 * Percentile queries, which have no SQLite counterpart, are checked for their columns only.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import {
  recordDecision,
  recordDelivery,
  recordExposure,
  recordFallback,
  recordFeedback,
  recordRulesRefused,
} from "../../../workers/common/analytics.ts";
import { DASHBOARD_QUERIES, DATASET } from "../../../workers/common/analytics-queries.ts";

interface Point {
  indexes?: string[];
  blobs?: string[];
  doubles?: number[];
}

/** Rewrites `name(a, b)` calls at any depth, splitting arguments at top-level commas. */
function rewriteCalls(sql: string, name: string, rewrite: (args: string[]) => string): string {
  const pattern = new RegExp(`\\b${name}\\(`, "i");
  let result = sql;
  for (let match = pattern.exec(result); match !== null; match = pattern.exec(result)) {
    const start = match.index + match[0].length;
    let depth = 1;
    let index = start;
    const args: string[] = [];
    let argumentStart = start;
    for (; index < result.length && depth > 0; index++) {
      const character = result[index];
      if (character === "(") depth++;
      else if (character === ")") depth--;
      else if (character === "," && depth === 1) {
        args.push(result.slice(argumentStart, index).trim());
        argumentStart = index + 1;
      }
    }
    args.push(result.slice(argumentStart, index - 1).trim());
    result = result.slice(0, match.index) + rewrite(args) + result.slice(index);
  }
  return result;
}

function toSqlite(sql: string, table: string): string {
  let translated = sql.replaceAll("NOW() - INTERVAL {since}", "0").replace(new RegExp(`FROM ${DATASET}\\b`), `FROM ${table}`);
  translated = rewriteCalls(translated, "sumIf", ([value, condition]) => `SUM(CASE WHEN ${condition} THEN ${value} ELSE 0 END)`);
  return translated;
}

it("answers the dashboard's questions from what the Worker writes", async () => {
  const points: Point[] = [];
  const dataset = { writeDataPoint: (point?: Point) => points.push(point ?? {}) };
  const exposure = (variant: string, holdout = false) => ({
    ruleId: "hero-test",
    slot: "hero",
    path: "/",
    experiment: "hero_test",
    variant,
    holdout,
  });
  for (let index = 0; index < 100; index++) recordExposure(dataset, exposure(index % 2 === 0 ? "a" : "b"));
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

  const table = `analytics_${crypto.randomUUID().replaceAll("-", "")}`;
  const results = await runInDurableObject(env.DEAD_LETTERS.getByName(`analytics-${table}`), (_, state) => {
    const sql = state.storage.sql;
    const blobs = Array.from({ length: 20 }, (_, index) => `blob${index + 1} TEXT`).join(", ");
    const doubles = Array.from({ length: 20 }, (_, index) => `double${index + 1} REAL`).join(", ");
    sql.exec(`CREATE TABLE ${table} (timestamp INTEGER, _sample_interval REAL, index1 TEXT, ${blobs}, ${doubles})`);
    for (const point of points) {
      const row = [
        Date.now(),
        1,
        point.indexes?.[0] ?? "",
        ...Array.from({ length: 20 }, (_, index) => point.blobs?.[index] ?? ""),
        ...Array.from({ length: 20 }, (_, index) => point.doubles?.[index] ?? 0),
      ];
      sql.exec(`INSERT INTO ${table} VALUES (${row.map(() => "?").join(", ")})`, ...row);
    }
    const answers: Record<string, Record<string, unknown>[]> = {};
    for (const query of DASHBOARD_QUERIES) {
      if (/quantile/i.test(query.sql)) continue;
      answers[query.id] = sql.exec(toSqlite(query.sql, table)).toArray() as Record<string, unknown>[];
    }
    return answers;
  });

  expect(results["rule-variant-funnel"]).toEqual([
    { rule: "hero-test", variant: "a", exposures: 50, clicks: 0, conversions: 0, revenue: 0, conversion_rate: 0 },
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
