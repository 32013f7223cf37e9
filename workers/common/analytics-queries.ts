/**
 * The Analytics Engine SQL a dashboard needs, over the columns `analytics.ts` writes. The Grafana
 * dashboard (`docs/grafana/tailor-dashboard.json`) and `docs/analytics.md` are generated from these,
 * and a test runs them (translated to SQLite) over data points written by the real helpers.
 * @see https://developers.cloudflare.com/analytics/analytics-engine/sql-api/
 * @module
 */

export interface DashboardQuery {
  id: string;
  title: string;
  /** `$__timeFilter` style placeholders are avoided: `{since}` is an SQL interval such as `'1' DAY`. */
  sql: string;
  /** How Grafana should draw it. */
  panel: "table" | "timeseries" | "stat";
}

export const DATASET = "tailor";

export const DASHBOARD_QUERIES: readonly DashboardQuery[] = [
  {
    id: "rule-variant-funnel",
    title: "Exposures, clicks and conversions per rule and variant",
    panel: "table",
    sql: `SELECT blob2 AS rule, blob5 AS variant,
  sumIf(_sample_interval, blob1 = 'exposure') AS exposures,
  sumIf(_sample_interval, blob1 = 'click') AS clicks,
  sumIf(_sample_interval, blob1 = 'conversion') AS conversions,
  sumIf(_sample_interval * double2, blob1 = 'conversion') AS revenue,
  sumIf(_sample_interval, blob1 = 'conversion') / sumIf(_sample_interval, blob1 = 'exposure') AS conversion_rate
FROM ${DATASET}
WHERE blob1 IN ('exposure', 'click', 'conversion') AND timestamp > NOW() - INTERVAL {since}
GROUP BY rule, variant
ORDER BY exposures DESC`,
  },
  {
    id: "fallback-rate",
    title: "Fallback rate (stages that fell back, per decision)",
    panel: "stat",
    sql: `SELECT sumIf(_sample_interval, blob1 = 'fallback') / sumIf(_sample_interval, blob1 = 'decision') AS fallback_rate
FROM ${DATASET}
WHERE blob1 IN ('fallback', 'decision') AND timestamp > NOW() - INTERVAL {since}`,
  },
  {
    id: "fallbacks-by-reason",
    title: "Fallbacks by reason",
    panel: "table",
    sql: `SELECT blob2 AS reason, SUM(_sample_interval) AS fallbacks
FROM ${DATASET}
WHERE blob1 = 'fallback' AND timestamp > NOW() - INTERVAL {since}
GROUP BY reason
ORDER BY fallbacks DESC`,
  },
  {
    id: "decision-latency",
    title: "Decision time percentiles (ms)",
    panel: "stat",
    sql: `SELECT quantileWeighted(0.5, double3, _sample_interval) AS p50,
  quantileWeighted(0.99, double3, _sample_interval) AS p99
FROM ${DATASET}
WHERE blob1 = 'decision' AND timestamp > NOW() - INTERVAL {since}`,
  },
  {
    id: "delivery",
    title: "Queue delivery outcomes",
    panel: "table",
    sql: `SELECT blob3 AS queue, blob2 AS outcome, SUM(_sample_interval * double1) AS messages
FROM ${DATASET}
WHERE blob1 = 'delivery' AND timestamp > NOW() - INTERVAL {since}
GROUP BY queue, outcome
ORDER BY queue, outcome`,
  },
  {
    id: "rules-refused",
    title: "Live rules documents refused (last good version kept serving)",
    panel: "table",
    sql: `SELECT double2 AS refused_version, double3 AS serving_version, blob3 AS first_problem, SUM(_sample_interval) AS checks
FROM ${DATASET}
WHERE blob1 = 'rules' AND blob2 = 'refused' AND timestamp > NOW() - INTERVAL {since}
GROUP BY refused_version, serving_version, first_problem
ORDER BY refused_version DESC`,
  },
];
