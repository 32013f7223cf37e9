/**
 * Runs Analytics Engine queries over data points in SQLite (a Durable Object's storage), so tests
 * can check the dashboard's and the alerts' SQL against what the Worker's helpers write. Analytics
 * Engine speaks a ClickHouse dialect; the queries are translated mechanically (`sumIf` →
 * `SUM(CASE ...)`, `if` → `CASE`, a `quantileWeighted` select → a running sum over the rows).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { DATASET } from "../../../workers/common/analytics-queries.ts";

export interface Point {
  indexes?: string[];
  blobs?: string[];
  doubles?: number[];
}

/** A dataset double that keeps what is written. */
export function collectingDataset(): { points: Point[]; writeDataPoint: (point?: Point) => void } {
  const points: Point[] = [];
  return { points, writeDataPoint: (point?: Point) => points.push(point ?? {}) };
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

const QUANTILE_SELECT = /^SELECT quantileWeighted\(([\d.]+), (\w+), (\w+)\) AS (\w+)\nFROM (\w+)\nWHERE ([^\n]+)$/;

/** The query in SQLite over `table`; percentile queries only in the one-column form the alerts use. */
export function toSqlite(sql: string, table: string): string {
  let translated = sql.replaceAll("NOW() - INTERVAL {since}", "0").replace(new RegExp(`FROM ${DATASET}\\b`), `FROM ${table}`);
  const quantile = QUANTILE_SELECT.exec(translated);
  if (quantile !== null) {
    const [, level, column, weight, name, from, where] = quantile;
    // The smallest value whose running weight reaches the level: ClickHouse's quantileWeighted.
    return `SELECT (SELECT ${column} FROM (SELECT ${column}, SUM(${weight}) OVER (ORDER BY ${column}) AS running, SUM(${weight}) OVER () AS total
      FROM ${from} WHERE ${where}) WHERE running >= ${level} * total ORDER BY ${column} LIMIT 1) AS ${name}`;
  }
  translated = rewriteCalls(translated, "sumIf", ([value, condition]) => `SUM(CASE WHEN ${condition} THEN ${value} ELSE 0 END)`);
  translated = rewriteCalls(
    translated,
    "if",
    ([condition, then, otherwise]) => `CASE WHEN ${condition} THEN ${then} ELSE ${otherwise} END`,
  );
  return translated;
}

/** Loads the points into a fresh table and answers each query (by key) over them. */
export async function runQueries(
  points: readonly Point[],
  queries: Record<string, string>,
): Promise<Record<string, Record<string, unknown>[]>> {
  const table = `analytics_${crypto.randomUUID().replaceAll("-", "")}`;
  return runInDurableObject(env.DEAD_LETTERS.getByName(`analytics-${table}`), (_, state) => {
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
    for (const [key, query] of Object.entries(queries))
      answers[key] = sql.exec(toSqlite(query, table)).toArray() as Record<string, unknown>[];
    return answers;
  });
}
