/**
 * `npm run cost`: the bill's arithmetic on a small input worked out by hand, the allowances, and the
 * command line (JSON output, a "before" from another design's counts, bad input refused).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Counts, DEFAULT_COUNTS, monthlyBill, PRICES, SECONDS_PER_MONTH } from "../../scripts/cost/model.ts";

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
