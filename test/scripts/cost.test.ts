/**
 * `npm run cost`: the bill's arithmetic on a small input worked out by hand, the allowances, and the
 * command line (JSON output, a "before" from another design's counts, bad input refused).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Counts, DEFAULT_COUNTS, DEFAULT_TRAFFIC, monthlyBill, PRICES, SECONDS_PER_MONTH } from "../../scripts/cost/model.ts";
import { costPerMillion } from "../../scripts/cost/per-million.ts";

const root = new URL("../../", import.meta.url);

/** Round numbers, so every line can be checked by hand. */
const COUNTS: Counts = {
  rowsWrittenPerEvent: 2,
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
  // 100 pages/s, 200 events/s in beacons of 2: 100 beacons/s; 2 slots: 200 exposures/s.
  const traffic = { pages: 100, events: 200, returning: 0.5, slots: 2, eventsPerBeacon: 2 };
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
    ["Durable Objects", "rows written", month(200 * 2 + 100 * 1 + 200 * 3)],
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
    // 1,100 rows/s: 2,851,200,000 rows written, 50 million included, $1 a million: $2,801.20.
    expect(find("Durable Objects", "rows written")?.usd).toBeCloseTo(2_801.2, 2);
    // 2,592,000 KV reads are within the 10 million included.
    expect(find("Workers KV", "reads")?.usd).toBe(0);
  });

  it("totals the products plus the Workers Paid subscription", () => {
    const lines = bill.lines.reduce((sum, line) => sum + line.usd, 0);
    expect(bill.totalUsd).toBeCloseTo(lines + 5, 6);
    expect(Object.values(bill.byProduct).reduce((sum, usd) => sum + usd, 0)).toBeCloseTo(bill.totalUsd, 6);
  });

  it("costs only the subscription with no traffic", () => {
    const idle = monthlyBill(
      { pages: 0, events: 0, returning: 0, slots: 0, eventsPerBeacon: 1 },
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

describe("cost per million", () => {
  const traffic = { pages: 100, events: 200, returning: 0.5, slots: 2, eventsPerBeacon: 2 };
  const cost = costPerMillion(traffic, COUNTS);

  it("prices a page view alone, worked out by hand", () => {
    // One page a second: 1.1 requests, 3 CPU ms, 1 DO request (0.5 profile reads + 0.1 batches × 5),
    // 0.001 GB-s, 5 rows read, 7 rows written (1 + 2 exposures × 3), 1 message × 3 operations, 3.1 points.
    const expected = 1.1 * 0.3 + 3 * 0.02 + 1 * 0.15 + 0.001 * 12.5 + 5 * 0.001 + 7 * 1 + 3 * 0.4 + 3.1 * 0.25;
    expect(cost.pageViewsUsd).toBeCloseTo(expected, 10);
    expect(cost.byProduct["Durable Objects"].pageViewsUsd).toBeCloseTo(0.15 + 0.0125 + 0.005 + 7, 10);
  });

  it("prices an event alone, worked out by hand", () => {
    // One event a second: half a beacon (0.5 requests + 0.05 batches), 1 CPU ms, 0.5 DO requests,
    // 2 rows written, half a message × 3 operations, 0.05 points.
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

  it.each([
    ["--pages", "-1"],
    ["--events", "lots"],
    ["--returning", "2"],
  ])("refuses %s %s with a clear message", (flag, value) => {
    const result = run(flag, value);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(flag);
  });
});
