/**
 * Generates, from the queries in `workers/common/analytics-queries.ts`, a Grafana dashboard and
 * alert rules (unified alerting file provisioning) over
 * the Analytics Engine SQL API (Altinity ClickHouse data source pointed at
 * `https://api.cloudflare.com/client/v4/accounts/<account>/analytics_engine/sql`) and the
 * `docs/analytics.md` page. Run by `npm run generate`; `npm test` fails when they are stale.
 */
import { writeFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { ALERT_RULES, type AlertRule, DASHBOARD_QUERIES } from "../workers/common/analytics-queries.ts";

/** The Analytics Engine data source's uid the alert rules name: give the provisioned data source this uid. */
export const ALERT_DATASOURCE_UID = "tailor-analytics-engine";

/** One rule in Grafana's alerting provisioning format: query A, threshold B on it. */
function grafanaAlertRule(rule: AlertRule): Record<string, unknown> {
  return {
    uid: `tailor-${rule.id}`,
    title: rule.title,
    condition: "B",
    data: [
      {
        refId: "A",
        relativeTimeRange: { from: rule.windowSeconds, to: 0 },
        datasourceUid: ALERT_DATASOURCE_UID,
        model: {
          refId: "A",
          rawQuery: true,
          format: "table",
          query: rule.sql.replaceAll("{since}", `'${rule.windowSeconds}' SECOND`),
        },
      },
      {
        refId: "B",
        datasourceUid: "__expr__",
        model: { refId: "B", type: "threshold", expression: "A", conditions: [{ evaluator: { type: "gt", params: [rule.above] } }] },
      },
    ],
    // No data points in the window (a quiet shop, no rollbacks): nothing is wrong. A query that fails
    // is its own alert, so a broken data source is not mistaken for a healthy system.
    noDataState: "OK",
    execErrState: "Error",
    for: rule.pendingFor,
    annotations: { summary: rule.summary },
    labels: { service: "tailor", severity: rule.severity },
  };
}

/** Grafana unified alerting provisioning file (JSON is accepted where YAML is). */
export function generateAlerts(): string {
  const provisioning = {
    apiVersion: 1,
    groups: [{ orgId: 1, name: "tailor", folder: "Tailor", interval: "1m", rules: ALERT_RULES.map(grafanaAlertRule) }],
  };
  return `${JSON.stringify(provisioning, null, 2)}\n`;
}

/** How to load the rules and route them to people, for docs/analytics.md. */
const ALERTS_GUIDE = [
  "## Alerts",
  "",
  "[`grafana/tailor-alerts.json`](grafana/tailor-alerts.json) provisions the rules below into",
  "Grafana's unified alerting (folder `Tailor`, group `tailor`, evaluated every minute). Each rule's",
  "query answers one number, `value`, over its window; the rule fires when it stays above the",
  "threshold for the pending period. Every rule carries the labels `service=tailor` and",
  "`severity=page|ticket`. The rules' queries are tested over data points written by the Worker's",
  "own helpers (`test/workers/feedback/alerts.test.ts`).",
  "",
  "Wiring them up:",
  "",
  `1. Data source: provision the ClickHouse data source for the Analytics Engine SQL API with \`uid: ${ALERT_DATASOURCE_UID}\``,
  "   (the rules name it by that uid), e.g. in `provisioning/datasources/tailor.yaml`.",
  "2. Rules: copy `docs/grafana/tailor-alerts.json` to Grafana's `provisioning/alerting/` folder and",
  "   restart Grafana (or `POST /api/admin/provisioning/alerting/reload`).",
  "3. Contact point and notification policy: in `provisioning/alerting/` too, add a contact point and",
  "   route Tailor's alerts to it by label, for example:",
  "",
  "```yaml",
  "apiVersion: 1",
  "contactPoints:",
  "  - orgId: 1",
  "    name: tailor-on-call",
  "    receivers:",
  "      - uid: tailor-on-call-webhook",
  "        type: webhook   # or email, slack, pagerduty, opsgenie ...",
  "        settings:",
  "          url: $TAILOR_ALERT_WEBHOOK_URL   # read from Grafana's environment, not committed",
  "policies:",
  "  - orgId: 1",
  "    receiver: grafana-default-email   # whatever the rest of the organization uses",
  "    routes:",
  "      - receiver: tailor-on-call",
  "        object_matchers: [[service, =, tailor], [severity, =, page]]",
  "        group_by: [alertname]",
  "        repeat_interval: 1h",
  "      - receiver: tailor-on-call",
  "        object_matchers: [[service, =, tailor]]",
  "        group_by: [alertname]",
  "        repeat_interval: 12h",
  "```",
  "",
  "   A `policies` file replaces the organization's whole notification policy tree: when other teams",
  "   use the same Grafana, add the two routes in the UI (Alerting → Notification policies) instead.",
  "4. Check: Alerting → Alert rules lists the rules under `Tailor`; each shows `Normal` once its query",
  '   ran. "Test" on the contact point sends a sample notification.',
  "",
  "A rule whose query fails shows `Error` and notifies like a firing one (`execErrState: Error`): an",
  "expired API token must not look like a healthy shop. A window without data points is `OK`.",
  "Automatic rollbacks write their data point with `recordRollback(dataset, { ruleId, reason,",
  "experiment?, fromVersion?, toVersion? })` and flagged sample ratio checks with",
  "`recordSampleRatioMismatch(dataset, experiment, pValue, exposures)` (`workers/common/analytics.ts`).",
  "",
  ...ALERT_RULES.flatMap((rule) => [
    `### ${rule.title}`,
    "",
    `${rule.summary} Window ${rule.windowSeconds} s, fires above ${rule.above} held for ${rule.pendingFor}, severity \`${rule.severity}\`.`,
    "",
    "```sql",
    rule.sql,
    "```",
    "",
  ]),
];

export function generateDashboard(): Record<string, string> {
  const panels = DASHBOARD_QUERIES.map((query, index) => ({
    id: index + 1,
    title: query.title,
    type: query.panel,
    gridPos: { h: 8, w: 12, x: (index % 2) * 12, y: Math.floor(index / 2) * 8 },
    // Grafana's variable syntax, not a template literal.
    datasource: { type: "vertamedia-clickhouse-datasource", uid: ["$", "{datasource}"].join("") },
    targets: [
      {
        refId: "A",
        format: query.panel === "timeseries" ? "time_series" : "table",
        rawQuery: true,
        query: query.sql.replaceAll("{since}", "'$__range_s' SECOND"),
      },
    ],
  }));
  const dashboard = {
    title: "Tailor — personalization",
    uid: "tailor-personalization",
    schemaVersion: 39,
    time: { from: "now-24h", to: "now" },
    templating: {
      list: [
        {
          name: "datasource",
          type: "datasource",
          query: "vertamedia-clickhouse-datasource",
          label: "Analytics Engine (ClickHouse data source)",
        },
      ],
    },
    panels,
  };
  const markdown = [
    "# Analytics queries",
    "",
    "Generated from `workers/common/analytics-queries.ts` by `npm run generate`; the column layout",
    "is in the [storage page](storage.md#analytics-engine--analytics-dataset-tailor). Run them with the",
    "[Analytics Engine SQL API](https://developers.cloudflare.com/analytics/analytics-engine/sql-api/),",
    "replacing `{since}` with an interval such as `'1' DAY`, or import",
    "[`grafana/tailor-dashboard.json`](grafana/tailor-dashboard.json) into Grafana.",
    "",
    ...DASHBOARD_QUERIES.flatMap((query) => [`## ${query.title}`, "", "```sql", query.sql, "```", ""]),
    ...ALERTS_GUIDE,
  ].join("\n");
  return {
    "docs/grafana/tailor-dashboard.json": `${JSON.stringify(dashboard, null, 2)}\n`,
    "docs/grafana/tailor-alerts.json": generateAlerts(),
    "docs/analytics.md": markdown,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  for (const [path, text] of Object.entries(generateDashboard())) {
    await writeFile(path, text);
    console.log(`dashboard: wrote ${path}`);
  }
}
