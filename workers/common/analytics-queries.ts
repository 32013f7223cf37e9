/**
 * The Analytics Engine SQL a dashboard needs, over the columns `analytics.ts` writes. The Grafana
 * dashboard (`docs/grafana/tailor-dashboard.json`) and `docs/analytics.md` are generated from these,
 * and a test runs them (translated to SQLite) over data points written by the real helpers. Counts
 * weigh each row by `double1`: the consumer merges equal points (workers/feedback/merged-points.ts).
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
  sumIf(_sample_interval * double1, blob1 = 'exposure') AS exposures,
  sumIf(_sample_interval * double1, blob1 = 'click') AS clicks,
  sumIf(_sample_interval * double1, blob1 = 'conversion') AS conversions,
  sumIf(_sample_interval * double2, blob1 = 'conversion') AS revenue,
  sumIf(_sample_interval * double1, blob1 = 'conversion') / sumIf(_sample_interval * double1, blob1 = 'exposure') AS conversion_rate
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

/**
 * An alert: a query answering one row with one number, `value`, over the last `{since}`, and the
 * threshold it must not exceed. Grafana evaluates it every minute; it fires once `value` stayed above
 * `above` for `pendingFor`. Generated into `docs/grafana/tailor-alerts.json` (Grafana alerting
 * provisioning) and `docs/analytics.md`.
 */
export interface AlertRule {
  id: string;
  title: string;
  /** What it means and what to look at first; shown in the notification. */
  summary: string;
  sql: string;
  /** The window `{since}` stands for, in seconds. */
  windowSeconds: number;
  /** Fires when `value` is above this. */
  above: number;
  /** How long the condition must hold before the alert fires (Grafana duration). */
  pendingFor: string;
  /** `page`: someone should look now; `ticket`: during working hours. */
  severity: "page" | "ticket";
}

/**
 * Decision time p99 budget (ms): the default profile (50) and rules (200) deadlines added. Every
 * stage that waits longer falls back, so a p99 above this means time is lost outside the deadlines.
 */
export const DECISION_P99_BUDGET_MS = 250;

/** Fallback reasons that mean a rule's action could not be applied (the slot kept the origin's content). */
export const ACTION_FAILURE_REASONS = ["model-missing:%", "recommendations-empty:%", "template-invalid:%", "rewrite-error"] as const;

const actionFailure = `(${ACTION_FAILURE_REASONS.map((reason) => (reason.endsWith("%") ? `blob2 LIKE '${reason}'` : `blob2 = '${reason}'`)).join(" OR ")})`;

/**
 * Alert SQL: the share of decisions that had a fallback matching `which`. A window without
 * decisions answers 0 rather than dividing by zero.
 */
function fallbackShare(which: string): string {
  return `SELECT if(sumIf(_sample_interval, blob1 = 'decision') = 0, 0,
  sumIf(_sample_interval, ${which}) / sumIf(_sample_interval, blob1 = 'decision')) AS value
FROM ${DATASET}
WHERE blob1 IN ('fallback', 'decision') AND timestamp > NOW() - INTERVAL {since}`;
}

/**
 * Alert SQL: how many events the data points matching `where` stand for in the window. `weight` is
 * `_sample_interval`, times `double1` for points the consumer merged (each then counts `double1` events).
 */
function countOf(where: string, weight: "_sample_interval" | "_sample_interval * double1" = "_sample_interval"): string {
  return `SELECT SUM(${weight}) AS value
FROM ${DATASET}
WHERE ${where} AND timestamp > NOW() - INTERVAL {since}`;
}

export const ALERT_RULES: readonly AlertRule[] = [
  {
    id: "fallback-rate",
    title: "Fallback rate above 5%",
    summary:
      "More than 5% of decisions had a stage fall back to defaults (visitors still get the page, unpersonalized). See the dashboard's 'Fallbacks by reason'.",
    windowSeconds: 600,
    above: 0.05,
    pendingFor: "5m",
    severity: "page",
    sql: fallbackShare("blob1 = 'fallback'"),
  },
  {
    id: "actions-failing",
    title: "Rule actions failing on more than 1% of decisions",
    summary:
      "Slot actions could not be applied (a model missing or empty, a template invalid, a rewrite that threw): those slots showed the origin's content. The reason names the model.",
    windowSeconds: 600,
    above: 0.01,
    pendingFor: "5m",
    severity: "ticket",
    sql: fallbackShare(`blob1 = 'fallback' AND ${actionFailure}`),
  },
  {
    id: "origin-errors",
    title: "Origin failing or timing out",
    summary: "The shop's origin did not answer in time or at all more than 10 times in 5 minutes: visitors got Tailor's short error page.",
    windowSeconds: 300,
    above: 10,
    pendingFor: "0s",
    severity: "page",
    sql: countOf("blob1 = 'fallback' AND blob2 IN ('origin-timeout', 'origin-unavailable')"),
  },
  {
    id: "delivery-retries",
    title: "Queue deliveries to Kafka failing",
    summary:
      "The consumers keep retrying messages for 15 minutes: the Kafka REST proxy is down, slow or refusing records. Messages wait in the queue (see docs/scaling.md, 'Dead letters'); nothing is lost until max_retries.",
    windowSeconds: 600,
    above: 0,
    pendingFor: "15m",
    severity: "page",
    sql: countOf("blob1 = 'delivery' AND blob2 = 'retried'", "_sample_interval * double1"),
  },
  {
    id: "dead-letters",
    title: "Messages dead-lettered",
    summary:
      "Messages were given up on (malformed, refused by the proxy, or out of retries) and kept in DeadLetters. Look at GET /admin/api/dead-letters, fix the cause, then replay (npm run replay).",
    windowSeconds: 600,
    above: 0,
    pendingFor: "0s",
    severity: "ticket",
    sql: countOf("blob1 = 'delivery' AND blob2 IN ('dead-lettered', 'malformed')", "_sample_interval * double1"),
  },
  {
    id: "sample-ratio-mismatch",
    title: "Sample ratio mismatch flagged",
    summary:
      "An experiment's exposures per variant do not match its planned split (p < 0.001): assignment or logging is broken and its results should not be trusted. The experiment is in blob2.",
    windowSeconds: 3600,
    above: 0,
    pendingFor: "0s",
    severity: "ticket",
    sql: countOf("blob1 = 'srm'"),
  },
  {
    id: "rollbacks",
    title: "Automatic rollback",
    summary: "A guardrail rolled a rule or experiment back. The rule and the reason are in blob2 and blob3 of the 'rollback' data points.",
    windowSeconds: 900,
    above: 0,
    pendingFor: "0s",
    severity: "page",
    sql: countOf("blob1 = 'rollback'"),
  },
  {
    id: "decision-p99",
    title: `Decision time p99 above ${DECISION_P99_BUDGET_MS} ms`,
    summary: `The slowest 1% of decisions took longer than the ${DECISION_P99_BUDGET_MS} ms budget (the profile and rules deadlines added): time is lost outside the stage deadlines.`,
    windowSeconds: 600,
    above: DECISION_P99_BUDGET_MS,
    pendingFor: "10m",
    severity: "ticket",
    sql: `SELECT quantileWeighted(0.99, double3, _sample_interval) AS value
FROM ${DATASET}
WHERE blob1 = 'decision' AND timestamp > NOW() - INTERVAL {since}`,
  },
  {
    id: "rules-refused",
    title: "Live rules document refused",
    summary:
      "An isolate read a live rules document or pointer that fails validation; the last good version keeps serving. The first problem is in blob3: publish a fixed version.",
    windowSeconds: 600,
    above: 0,
    pendingFor: "0s",
    severity: "page",
    sql: countOf("blob1 = 'rules' AND blob2 = 'refused'"),
  },
];
