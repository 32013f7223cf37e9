/**
 * `npm run cost`: the bill's arithmetic on a small input worked out by hand, the allowances, and the
 * command line (JSON output, a "before" from another design's counts, bad input refused).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type Counts,
  countsFromFile,
  DEFAULT_COUNTS,
  DEFAULT_TRAFFIC,
  monthlyBill,
  newVisitorsOf,
  PRICES,
  SECONDS_PER_MONTH,
} from "../../scripts/cost/model.ts";
import { costPerMillion } from "../../scripts/cost/per-million.ts";

const root = new URL("../../", import.meta.url);

/** Round numbers, so every line can be checked by hand. */
const COUNTS: Counts = {
  rowsWrittenPerBeacon: 4,
  rowsToCreateVisitor: 10,
  rowsReadPerPageDecision: 10,
  rowsWrittenPerPageDecision: 1,
  rowsWrittenPerExposure: 3,
  decisionsPerFeedbackMessage: 1,
  feedbackMessagesPerEvent: 0,
  queueOperationsPerMessage: 3,
  doRequestsPerFeedbackBatch: 5,
  messagesPerBatch: 10,
  analyticsPointsPerPage: 1,
  analyticsPointsPerExposure: 1,
  analyticsPointsPerBatch: 1,
  kvReadsPerSecond: 1,
  cpuMsPerPage: 2,
  cpuMsPerBeacon: 1,
  cpuMsPerBatch: 10,
  gbSecondsPerDoRequest: 0.001,
};

describe("monthly bill", () => {
  // 100 pages/s, 200 events/s in beacons of 2: 100 beacons/s; 2 slots: 200 exposures/s; 5 new visitors/s.
  const traffic = { pages: 100, events: 200, returning: 0.5, slots: 2, eventsPerBeacon: 2, newVisitors: 5 };
  const bill = monthlyBill(traffic, COUNTS);
  const month = (perSecond: number) => perSecond * SECONDS_PER_MONTH;
  const find = (product: string, unit: string) => bill.lines.find((line) => line.product === product && line.unit === unit);

  it.each([
    // 100 feedback + 100 events messages/s in batches of 10: 20 invocations/s.
    ["Workers", "requests", month(100 + 100 + 20)],
    ["Workers", "CPU ms", month(100 * 2 + 100 * 1 + 20 * 10)],
    // 50 returning pages + 100 beacons + 10 feedback batches × 5 calls.
    ["Durable Objects", "requests", month(50 + 100 + 50)],
    ["Durable Objects", "GB-s", month(200 * 0.001)],
    ["Durable Objects", "rows read", month(50 * 10)],
    // 100 beacons × 4 rows + 5 new visitors × 10 rows to create their objects + 100 pages × 1 + 200 exposures × 3.
    ["Durable Objects", "rows written", month(100 * 4 + 5 * 10 + 100 * 1 + 200 * 3)],
    ["Queues", "operations", month((100 + 100) * 3)],
    ["Workers KV", "reads", month(1)],
    ["Analytics Engine", "data points", month(100 + 200 + 20)],
  ])("%s %s per month", (product, unit, expected) => {
    expect(find(product, unit)?.perMonth).toBeCloseTo(expected, 3);
  });

  it("charges only what is above each allowance, at the price per million", () => {
    for (const line of bill.lines) {
      expect(line.usd).toBeCloseTo((Math.max(0, line.perMonth - line.includedPerMonth) / 1e6) * line.usdPerMillion, 6);
    }
    // 1,150 rows/s: 2,980,800,000 rows written, 50 million included, $1 a million: $2,930.80.
    expect(find("Durable Objects", "rows written")?.usd).toBeCloseTo(2_930.8, 2);
    // 2,592,000 KV reads are within the 10 million included.
    expect(find("Workers KV", "reads")?.usd).toBe(0);
  });

  it("prices visitor rows per beacon, not per event, plus each new visitor's object", () => {
    const rows = (change: Partial<typeof traffic>) =>
      monthlyBill({ ...traffic, ...change }, COUNTS).lines.find((line) => line.unit === "rows written")?.perMonth ?? 0;
    // The same 200 events in beacons of 4: half the beacons, half the visitor rows (200 fewer a second).
    expect(rows({ eventsPerBeacon: 4 })).toBeCloseTo(rows({}) - month(200), 3);
    // Ten new visitors a second more: 10 × 10 rows a second more, whatever the events.
    expect(rows({ newVisitors: 15 })).toBeCloseTo(rows({}) + month(100), 3);
    expect(rows({ newVisitors: 0 })).toBeCloseTo(rows({}) - month(50), 3);
  });

  it("totals the products plus the Workers Paid subscription", () => {
    const lines = bill.lines.reduce((sum, line) => sum + line.usd, 0);
    expect(bill.totalUsd).toBeCloseTo(lines + 5, 6);
    expect(Object.values(bill.byProduct).reduce((sum, usd) => sum + usd, 0)).toBeCloseTo(bill.totalUsd, 6);
  });

  it("costs only the subscription with no traffic", () => {
    const idle = monthlyBill(
      { pages: 0, events: 0, returning: 0, slots: 0, eventsPerBeacon: 1, newVisitors: 0 },
      { ...DEFAULT_COUNTS, kvReadsPerSecond: 0 },
    );
    expect(idle.totalUsd).toBe(5);
  });

  it("uses the published prices it prints", () => {
    expect(PRICES.doRowsWritten.usdPerMillion).toBe(1);
    expect(PRICES.queueOperations.usdPerMillion).toBe(0.4);
    expect(PRICES.analyticsPoints.includedPerMonth).toBe(10e6);
  });
});

describe("new visitors and counts files", () => {
  it("derives new visitors from the page views without state and the pages a visit", () => {
    expect(newVisitorsOf(200, 0.6)).toBe(20);
    expect(newVisitorsOf(100, 0.5, 10)).toBe(5);
    expect(DEFAULT_TRAFFIC.newVisitors).toBe(newVisitorsOf(DEFAULT_TRAFFIC.pages, DEFAULT_TRAFFIC.returning));
  });

  it.each([
    ["beacons of 2", 2],
    ["single-event beacons", 1],
    ["beacons of 5", 5],
  ])("prices a file of rows per event (the old shape) as rows per event × events, with %s", (_, eventsPerBeacon) => {
    const { counts, converted } = countsFromFile({ rowsWrittenPerEvent: 7, rowsWrittenPerExposure: 3 }, COUNTS, eventsPerBeacon);
    expect(converted).toContain("per event");
    expect(counts).toMatchObject({ rowsWrittenPerBeacon: 7 * eventsPerBeacon, rowsToCreateVisitor: 0, rowsWrittenPerExposure: 3 });
    const traffic = { pages: 0, events: 100, returning: 0, slots: 0, eventsPerBeacon, newVisitors: 20 };
    const rows = monthlyBill(traffic, counts).lines.find((line) => line.unit === "rows written")?.perMonth;
    expect(rows).toBeCloseTo(100 * 7 * SECONDS_PER_MONTH, 3);
  });

  it("reads a file of rows per beacon as it is, its rows per event left unpriced", () => {
    const { counts, converted } = countsFromFile(
      { rowsWrittenPerEvent: 0.5, rowsWrittenPerBeacon: 1.2, rowsToCreateVisitor: 4 },
      COUNTS,
      2,
    );
    expect(converted).toBeNull();
    expect(counts).toMatchObject({ rowsWrittenPerBeacon: 1.2, rowsToCreateVisitor: 4 });
  });
});

describe("cost per million", () => {
  const traffic = { pages: 100, events: 200, returning: 0.5, slots: 2, eventsPerBeacon: 2, newVisitors: 5 };
  const cost = costPerMillion(traffic, COUNTS);

  it("prices a page view alone, worked out by hand", () => {
    // One page a second: 1.1 requests, 3 CPU ms, 1 DO request (0.5 profile reads + 0.1 batches × 5),
    // 0.001 GB-s, 5 rows read, 7.5 rows written (1 + 2 exposures × 3 + 0.05 new visitors × 10),
    // 1 message × 3 operations, 3.1 points.
    const expected = 1.1 * 0.3 + 3 * 0.02 + 1 * 0.15 + 0.001 * 12.5 + 5 * 0.001 + 7.5 * 1 + 3 * 0.4 + 3.1 * 0.25;
    expect(cost.pageViewsUsd).toBeCloseTo(expected, 10);
    expect(cost.byProduct["Durable Objects"].pageViewsUsd).toBeCloseTo(0.15 + 0.0125 + 0.005 + 7.5, 10);
  });

  it("prices an event alone, worked out by hand", () => {
    // One event a second: half a beacon (0.5 requests + 0.05 batches), 1 CPU ms, 0.5 DO requests,
    // 2 rows written (half a beacon × 4), half a message × 3 operations, 0.05 points.
    const expected = 0.55 * 0.3 + 1 * 0.02 + 0.5 * 0.15 + 0.0005 * 12.5 + 2 * 1 + 1.5 * 0.4 + 0.05 * 0.25;
    expect(cost.eventsUsd).toBeCloseTo(expected, 10);
  });

  it("adds the events that come with a page view at the traffic's ratio", () => {
    expect(cost.eventsPerPageView).toBe(2);
    expect(cost.pageViewsWithEventsUsd).toBeCloseTo(cost.pageViewsUsd + 2 * cost.eventsUsd, 10);
  });

  it("agrees with the monthly bill once traffic is far above the allowances", () => {
    const large = { ...DEFAULT_TRAFFIC, pages: 10_000, events: 50_000 };
    const bill = monthlyBill(large, DEFAULT_COUNTS);
    const perMillion = costPerMillion(large, DEFAULT_COUNTS);
    const allowances = bill.lines.reduce(
      (sum, line) => sum + (line.product === "Workers KV" ? 0 : (line.includedPerMonth / 1e6) * line.usdPerMillion),
      0,
    );
    const kv = bill.lines.find((line) => line.product === "Workers KV")?.usd ?? 0;
    const month = (perSecond: number) => (perSecond * SECONDS_PER_MONTH) / 1e6;
    expect(month(large.pages) * perMillion.pageViewsUsd + month(large.events) * perMillion.eventsUsd - allowances).toBeCloseTo(
      bill.totalUsd - 5 - kv,
      2,
    );
  });
});

describe("npm run cost", () => {
  const run = (...args: string[]) =>
    spawnSync("npx", ["tsx", "scripts/cost.ts", ...args], { cwd: root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });

  it("prints JSON with the prices, where they were read, and a before from another design's counts", () => {
    const folder = mkdtempSync(join(tmpdir(), "tailor-cost-"));
    const old = join(folder, "old.json");
    writeFileSync(old, JSON.stringify({ measuredAt: "2026-11-01T00:00:00Z", command: "npm run bench:ingest", rowsWrittenPerEvent: 13 }));
    const output = execFileSync("npx", ["tsx", "scripts/cost.ts", "--pages", "200", "--events", "1000", "--counts", old, "--json"], {
      cwd: root,
      encoding: "utf8",
    });
    const report = JSON.parse(output) as { pricesReadOn: string; bill: { totalUsd: number }; before: { bill: { totalUsd: number } } };
    expect(report.pricesReadOn).toMatch(/2026-12-02/);
    expect(report.before.bill.totalUsd).toBeGreaterThan(report.bill.totalUsd);
  });

  it("prices the 2026-12-01 design's per-event counts as before, and states the new visitors it assumes", () => {
    const result = run("--pages", "200", "--events", "1000", "--counts", "scripts/cost/counts-2026-12-01.json");
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("20 new visitors a second");
    expect(result.stdout).toContain("÷ 4 pages a visit");
    expect(result.stdout).toContain("converted from the per-event shape");
    const json = execFileSync(
      "npx",
      ["tsx", "scripts/cost.ts", "--pages", "200", "--events", "1000", "--counts", "scripts/cost/counts-2026-12-01.json", "--json"],
      { cwd: root, encoding: "utf8" },
    );
    const report = JSON.parse(json) as { traffic: { newVisitors: number }; before: { bill: { totalUsd: number } } };
    expect(report.traffic.newVisitors).toBe(20);
    // What the old model printed for these counts: 10.66 rows for each of 1,000 events a second.
    expect(report.before.bill.totalUsd).toBeCloseTo(36_165.49, 1);
    const set = JSON.parse(
      execFileSync("npx", ["tsx", "scripts/cost.ts", "--new-visitors", "3", "--json"], { cwd: root, encoding: "utf8" }),
    ) as { traffic: { newVisitors: number } };
    expect(set.traffic.newVisitors).toBe(3);
  });

  it.each([
    ["--pages", "-1"],
    ["--events", "lots"],
    ["--returning", "2"],
    ["--new-visitors", "-3"],
    ["--pages-per-visit", "0"],
  ])("refuses %s %s with a clear message", (flag, value) => {
    const result = run(flag, value);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(flag);
  });
});
