/**
 * Generates, from the queries in `workers/common/analytics-queries.ts`, a Grafana dashboard over
 * the Analytics Engine SQL API (Altinity ClickHouse data source pointed at
 * `https://api.cloudflare.com/client/v4/accounts/<account>/analytics_engine/sql`) and the
 * `docs/analytics.md` page. Run by `npm run generate`; `npm test` fails when they are stale.
 */
import { writeFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { DASHBOARD_QUERIES } from "../workers/common/analytics-queries.ts";

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
  ].join("\n");
  return { "docs/grafana/tailor-dashboard.json": `${JSON.stringify(dashboard, null, 2)}\n`, "docs/analytics.md": markdown };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  for (const [path, text] of Object.entries(generateDashboard())) {
    await writeFile(path, text);
    console.log(`dashboard: wrote ${path}`);
  }
}
