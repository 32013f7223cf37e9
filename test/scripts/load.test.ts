/**
 * `npm run load`: the pure parts. The mix (sessions, beacons, what a homepage must carry), the
 * report's arithmetic (percentiles, rates, what is still missing, per-unit counts against the cost
 * model), the rules it publishes, and the command line refusing bad flags. The load itself runs
 * only by hand (`npm run load -- --duration 10`): it needs the whole system and minutes.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { PRODUCTS } from "../../demo-shop/catalog.ts";
import { DEFAULT_COUNTS, DEFAULT_TRAFFIC } from "../../scripts/cost/model.ts";
import {
  afterBeacon,
  EMPTY_HISTORY,
  expectedRules,
  intoBeacons,
  LOAD_EXPERIMENT,
  loadRulesDocument,
  MAX_EVENTS_PER_BEACON,
  personalizedSlots,
  planSession,
  promotionClicked,
  type Step,
  type TrackerEvent,
} from "../../scripts/load/mix.ts";
import {
  backlog,
  isFallback,
  type ObjectUsage,
  parseDriverLine,
  progressLine,
  summarizeKind,
  type Totals,
  UsageLedger,
  unitRows,
} from "../../scripts/load/report.ts";
import { seededRandom } from "../../scripts/simulate/model.ts";
import { RulesDocument } from "../../shared/rules/document.ts";

const root = new URL("../../", import.meta.url);

function sessions(seed: number, count: number): Step[][] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => planSession(random));
}

const view = (category: string): TrackerEvent => ({
  type: "track",
  event: "Product Viewed",
  properties: { product_id: "x", category },
});

describe("the mix", () => {
  const planned = sessions(1, 2_000);
  const steps = planned.flat();
  const beacons = steps.flatMap((step) => step.beacons);
  const events = beacons.flat();

  it("is the same for the same seed and different for another", () => {
    expect(sessions(7, 20)).toEqual(sessions(7, 20));
    expect(sessions(7, 20)).not.toEqual(sessions(8, 20));
  });

  it("puts one to five events in every beacon, a page call first on every page", () => {
    for (const beacon of beacons) {
      expect(beacon.length).toBeGreaterThanOrEqual(1);
      expect(beacon.length).toBeLessThanOrEqual(MAX_EVENTS_PER_BEACON);
    }
    for (const step of steps) expect(step.beacons[0]?.[0]?.type).toBe("page");
  });

  it("sends about the cost model's five events per page view (clicks on slots come on top)", () => {
    const perPage = events.length / steps.length;
    expect(perPage).toBeGreaterThan(4);
    expect(perPage).toBeLessThan(6);
    expect(DEFAULT_TRAFFIC.events / DEFAULT_TRAFFIC.pages).toBe(5);
  });

  it("makes sessions of two to six navigations, landing on the homepage, a product or a category", () => {
    for (const session of planned) {
      expect(session.length).toBeGreaterThanOrEqual(2);
      expect(session.length).toBeLessThanOrEqual(6);
      expect(["home", "product", "category"]).toContain(session[0]?.kind);
    }
    const share = (kind: Step["kind"]) => steps.filter((step) => step.kind === kind).length / steps.length;
    for (const kind of ["home", "product", "category", "decide"] as const) expect(share(kind)).toBeGreaterThan(0.03);
  });

  it.each([
    ["Product Viewed", 0.05],
    ["Product Added", 0.01],
    ["Order Completed", 0.002],
  ])("has %s events (more than %f of all)", (name, least) => {
    expect(events.filter((event) => event.event === name).length / events.length).toBeGreaterThan(least);
  });

  it("orders only in a session that put something in the basket, for the products' prices", () => {
    for (const session of planned) {
      const all = session.flatMap((step) => step.beacons.flat());
      const order = all.find((event) => event.event === "Order Completed");
      if (order === undefined) continue;
      const added = all.filter((event) => event.event === "Product Added");
      expect(added.length).toBeGreaterThan(0);
      const total = added.reduce((sum, event) => sum + Number(event.properties.price), 0);
      expect(order.properties.revenue).toBeCloseTo(total, 2);
    }
  });

  it("views products of the catalogue with their category, as the product page's data attributes say", () => {
    for (const event of events.filter((one) => one.event === "Product Viewed")) {
      const product = PRODUCTS.find((candidate) => candidate.id === event.properties.product_id);
      expect(product?.category).toBe(event.properties.category);
    }
  });

  it("asks for a click on a personalized slot only where slots can be (homepage, decide)", () => {
    for (const step of steps.filter((one) => one.interaction === "click-slot")) expect(["home", "decide"]).toContain(step.kind);
    expect(steps.some((step) => step.interaction === "click-slot")).toBe(true);
  });

  it("splits a long run of events into beacons of at most five, in order", () => {
    const twelve = Array.from({ length: 12 }, (_, index): TrackerEvent => ({ type: "track", event: `e${index}`, properties: {} }));
    const split = intoBeacons(twelve);
    expect(split.map((beacon) => beacon.length)).toEqual([5, 5, 2]);
    expect(split.flat()).toEqual(twelve);
  });
});

describe("what a homepage must carry", () => {
  it.each([
    ["no events", [], []],
    ["a page call", [{ type: "page", properties: {} }], []],
    ["an outdoor product view", [view("outdoor")], ["recently-viewed-recs"]],
    ["an electronics product view", [view("electronics")], ["electronics-hero", "recently-viewed-recs"]],
    [
      "a list view of electronics (not a product view)",
      [{ type: "track", event: "Product List Viewed", properties: { category: "electronics" } }],
      [],
    ],
  ] as [string, TrackerEvent[], string[]][])("after %s", (_name, beacon, rules) => {
    expect(expectedRules(afterBeacon(EMPTY_HISTORY, beacon))).toEqual(rules);
  });

  it("remembers earlier views across beacons", () => {
    const history = afterBeacon(afterBeacon(EMPTY_HISTORY, [view("electronics")]), [view("home")]);
    expect(expectedRules(history)).toEqual(["electronics-hero", "recently-viewed-recs"]);
  });

  it("reads the rule, slot, experiment and variant of each personalized slot in a page", () => {
    const html = `<main><section class="hero" data-slot="hero" data-p13n-rule="electronics-hero" data-p13n-slot="hero"><h1>x</h1></section>
<div class="banner" data-slot="banner" data-p13n-rule="load-banner-test" data-p13n-slot="banner" data-p13n-experiment="${LOAD_EXPERIMENT}" data-p13n-variant="delivery"><p>y</p></div>
<div class="grid" data-slot="recommendations"><article data-product-id="el-01"></article></div></main>`;
    const slots = personalizedSlots(html);
    expect(slots).toEqual([
      { rule: "electronics-hero", slot: "hero", experiment: null, variant: null },
      { rule: "load-banner-test", slot: "banner", experiment: LOAD_EXPERIMENT, variant: "delivery" },
    ]);
    const [, banner] = slots;
    if (banner === undefined) throw new Error("no banner slot");
    // As the tracker sends it: the rule as promotion_id, the slot as position, the variant as creative.
    expect(promotionClicked(banner)).toEqual({
      type: "track",
      event: "Promotion Clicked",
      properties: { promotion_id: "load-banner-test", position: "banner", creative: "delivery", experiment: LOAD_EXPERIMENT },
    });
  });
});

describe("the rules it publishes", () => {
  it("are the demo rules plus one banner experiment, and valid", () => {
    const document = loadRulesDocument(3);
    const parsed = RulesDocument.safeParse(document);
    expect(parsed.success).toBe(true);
    expect(document.version).toBe(3);
    expect(Object.keys(document.experiments)).toEqual([LOAD_EXPERIMENT]);
    expect(document.rules.map((rule) => rule.id)).toEqual([
      "electronics-hero",
      "basket-banner",
      "high-intent-banner",
      "recently-viewed-recs",
      "load-banner-test",
    ]);
  });
});

describe("the report's arithmetic", () => {
  it("gives count, rate, p50/p99 (nearest rank) and unexpected statuses per kind", () => {
    const latencies = Array.from({ length: 100 }, (_, index) => 100 - index);
    const page = summarizeKind("home", { latencies, statuses: { "200": 97, "502": 2, error: 1 } }, 20);
    expect(page).toEqual({ requests: 100, perSecond: 5, p50Ms: 50, p99Ms: 99, statuses: { "200": 97, "502": 2, error: 1 }, unexpected: 3 });
    // Beacons are answered 202.
    expect(summarizeKind("beacon", { latencies: [1, 2], statuses: { "202": 1, "200": 1 } }, 1).unexpected).toBe(1);
    expect(summarizeKind("decide", { latencies: [], statuses: {} }, 0)).toMatchObject({ requests: 0, perSecond: 0 });
  });

  it("prints a progress line with requests, rate, errors and percentiles so far", () => {
    const logs = {
      home: { latencies: [10, 20, 30], statuses: { "200": 2, "502": 1 } },
      category: { latencies: [], statuses: {} },
      product: { latencies: [], statuses: {} },
      decide: { latencies: [], statuses: {} },
      beacon: { latencies: [5], statuses: { "202": 1 } },
    };
    const line = progressLine(10, 60, logs, { started: 7, inFlight: 2 });
    expect(line).toBe("load: 10/60 s  requests 4 (0/s)  errors 1  p50 10.0 ms  p99 30.0 ms  sessions 7 (2 in flight)");
  });

  it.each([
    ["everything delivered", {}, { events: 0, decisions: 0, experimentExposures: 0 }],
    ["events still queued", { eventsDelivered: 90 }, { events: 10, decisions: 0, experimentExposures: 0 }],
    ["decisions never delivered", { decisionsDelivered: 45 }, { events: 0, decisions: 5, experimentExposures: 0 }],
    ["exposures not in the report", { experimentTrialsReported: 18 }, { events: 0, decisions: 0, experimentExposures: 2 }],
    // More decisions delivered than seen personalized: experiments whose variant shows default content.
    ["more delivered than seen", { decisionsDelivered: 60 }, { events: 0, decisions: 0, experimentExposures: 0 }],
  ])("counts what is missing after the drain: %s", (_name, change, expected) => {
    const delivery = {
      eventsAccepted: 100,
      eventsDelivered: 100,
      decisionsSeenPersonalized: 50,
      decisionsDelivered: 50,
      exposuresDelivered: 70,
      experimentExposuresDelivered: 20,
      experimentTrialsReported: 20,
      deadLetters: 0,
      ...change,
    };
    expect(backlog(delivery)).toEqual(expected);
  });

  it.each([
    ['profile;dur=84.0, fallback;desc="profile", decide;dur=0.0', true],
    ['fallback;desc="models"', true],
    ["profile;dur=1.0, decide;dur=0.1", false],
    [null, false],
  ])("reads a fallback in Server-Timing %s: %s", (header, expected) => {
    expect(isFallback(header)).toBe(expected);
  });

  it("works out the per-unit counts from the run's totals, next to the cost model's", () => {
    const totals: Totals = {
      pages: 400,
      decisions: 200,
      beacons: 1_000,
      eventsAccepted: 2_000,
      objects: {
        events: 1_000,
        rowsWritten: 1_500,
        profileReads: 60,
        profileRowsRead: 30,
        profileRowsWritten: 0,
        pages: 200,
        decisions: 100,
      },
      exposures: 300,
      exposureRowsWritten: 450,
      kafkaRequests: 50,
      kafkaRecords: 2_500,
    };
    const rows = Object.fromEntries(unitRows(totals, DEFAULT_COUNTS, DEFAULT_TRAFFIC).map((row) => [row.name, row]));
    expect(rows["events per page view"]).toMatchObject({ measured: 5, model: 5 });
    expect(rows["events per beacon"]).toMatchObject({ measured: 2, model: DEFAULT_TRAFFIC.eventsPerBeacon });
    // Reads are taken over the covered visitors' own pages, not all pages.
    expect(rows["visitor-object reads per page view"]?.measured).toBeCloseTo(0.3, 10);
    expect(rows["visitor-object reads per targeted page"]?.measured).toBeCloseTo(0.6, 10);
    expect(rows["rows written per event"]).toMatchObject({
      measured: 1.5,
      model: DEFAULT_COUNTS.rowsWrittenPerBeacon / DEFAULT_TRAFFIC.eventsPerBeacon,
    });
    expect(rows["rows read per page decision"]?.measured).toBeCloseTo(0.5, 10);
    expect(rows["rows written per page decision"]?.measured).toBe(0);
    expect(rows["rows written per exposure"]).toMatchObject({ measured: 1.5, model: DEFAULT_COUNTS.rowsWrittenPerExposure });
    expect(rows["exposures per targeted page"]?.measured).toBe(1.5);
    expect(rows["Kafka records per produce request"]?.measured).toBe(50);
    // Not observable locally: shown with the model's figure only.
    expect(rows["Analytics Engine points per page"]).toMatchObject({ measured: null, model: DEFAULT_COUNTS.analyticsPointsPerPage });
  });

  it("shows no figure rather than dividing by zero", () => {
    const empty: Totals = {
      pages: 0,
      decisions: 0,
      beacons: 0,
      eventsAccepted: 0,
      objects: { events: 0, rowsWritten: 0, profileReads: 0, profileRowsRead: 0, profileRowsWritten: 0, pages: 0, decisions: 0 },
      exposures: 0,
      exposureRowsWritten: 0,
      kafkaRequests: 0,
      kafkaRecords: 0,
    };
    for (const row of unitRows(empty, DEFAULT_COUNTS, DEFAULT_TRAFFIC)) expect(row.measured).toBeNull();
  });
});

describe("a visitor object's counts over the run", () => {
  const usage = (events: number, rowsWritten: number, reads = 0): ObjectUsage => ({
    rowsRead: reads,
    rowsWritten,
    eventsAccepted: events,
    profileReads: { calls: reads, rowsRead: 0, rowsWritten: 0 },
  });

  it("takes the latest snapshot while the object stays loaded", () => {
    const ledger = new UsageLedger();
    for (const snapshot of [usage(0, 0), usage(3, 5, 1), usage(8, 11, 2)]) ledger.record(snapshot);
    expect(ledger.total()).toEqual(usage(8, 11, 2));
  });

  it.each([
    // Evicted between sessions: the next session starts from zero, the earlier life is kept.
    ["evicted between sessions", [usage(4, 6, 1), usage(0, 0), usage(5, 7, 1)], usage(9, 13, 2)],
    // Evicted after the last session: the final read finds an empty meter.
    ["evicted after the last session", [usage(4, 6, 1), usage(0, 0)], usage(4, 6, 1)],
    ["evicted twice", [usage(2, 3), usage(1, 2), usage(0, 0), usage(6, 9)], usage(9, 14)],
  ] as [string, ObjectUsage[], ObjectUsage][])("adds up the lives of an object %s", (_name, snapshots, expected) => {
    const ledger = new UsageLedger();
    for (const snapshot of snapshots) ledger.record(snapshot);
    expect(ledger.total()).toEqual(expected);
  });
});

describe("the driver's lines", () => {
  it.each([
    ['{"type":"session-start","visitor":"abc"}', { type: "session-start", visitor: "abc" }],
    ['{"type":"session-end","visitor":"abc"}', { type: "session-end", visitor: "abc" }],
    ['{"type":"result","result":{"seconds":3}}', { type: "result", result: { seconds: 3 } }],
    ["load: 5/75 s  requests 12", null],
    ['{"type":"session-end"}', null],
    ['{"type":"result","result":null}', null],
    ["[1,2]", null],
    ["", null],
  ])("reads %s", (line, expected) => {
    expect(parseDriverLine(line)).toEqual(expected);
  });
});

describe("npm run load", () => {
  it.each([
    ["--duration", "0"],
    ["--rate", "lots"],
    ["--visitors", "-5"],
    ["--drain", "100000"],
  ])("refuses %s %s with a clear message before starting anything", (flag, value) => {
    const result = spawnSync("npx", ["tsx", "scripts/load/main.ts", flag, value], { cwd: root, encoding: "utf8" });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(flag);
    expect(result.stdout).not.toContain("building the Worker");
  });
});

/**
 * A stand-in for Tailor that keeps what each visitor sent and personalizes the homepage as the demo
 * rules would (`honest`), or never does (a page that lost its personalization).
 */
async function standIn(honest: boolean) {
  const { createServer } = await import("node:http");
  const events = new Map<string, TrackerEvent[]>();
  let issued = 0;
  const server = createServer((request, response) => {
    const cookie = /tailor_vid=([A-Za-z0-9_-]{22})/.exec(request.headers.cookie ?? "")?.[1];
    const visitor = cookie ?? `visitor${String(++issued).padStart(15, "0")}`;
    if (cookie === undefined) response.setHeader("set-cookie", `tailor_vid=${visitor}; Path=/; HttpOnly`);
    let body = "";
    request.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on("end", () => {
      const url = new URL(request.url ?? "/", "http://stand-in");
      if (request.method === "POST" && url.pathname === "/v1/events") {
        const batch = (JSON.parse(body) as { batch: TrackerEvent[] }).batch;
        events.set(visitor, [...(events.get(visitor) ?? []), ...batch]);
        response.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ accepted: batch.length, duplicates: 0 }));
        return;
      }
      const seen = events.get(visitor) ?? [];
      const rules = honest ? expectedRules(afterBeacon(EMPTY_HISTORY, seen)) : [];
      if (url.pathname === "/v1/decide") {
        const slots = rules.map((ruleId) => ({ slot: ruleId, ruleId, experiment: null, variant: null }));
        response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ decisionId: "d", slots }));
        return;
      }
      const marked = rules.map((rule) => `<div data-slot="${rule}" data-p13n-rule="${rule}" data-p13n-slot="${rule}"></div>`).join("");
      response.writeHead(200, { "content-type": "text/html" }).end(`<html><body>${marked}</body></html>`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return {
    url: `http://127.0.0.1:${address.port}`,
    events,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("the driver against a stand-in", () => {
  const plan = { durationSeconds: 4, rate: 40, visitors: 4, seed: 3, maxSessions: 8 };

  it("keeps each visitor's cookie, counts what was accepted, and reports each session's start and end", async () => {
    const { drive } = await import("../../scripts/load/driver.ts");
    const server = await standIn(true);
    const sessions: [string, string][] = [];
    try {
      const result = await drive(
        { ...plan, url: server.url },
        () => undefined,
        (event, visitor) => sessions.push([event, visitor]),
      );
      const received = [...server.events.values()].reduce((sum, list) => sum + list.length, 0);
      expect(result.beacons.accepted).toBe(received);
      expect(result.beacons.events).toBe(received);
      // At most the pool's visitors, each with the one cookie the stand-in issued to it.
      expect(result.visitors.length).toBeLessThanOrEqual(plan.visitors);
      for (const visitor of result.visitors) expect(visitor.accepted).toBe(server.events.get(visitor.id)?.length ?? 0);
      expect(result.sessions.returning).toBeGreaterThan(0);
      expect(sessions.filter(([event]) => event === "session-start").length).toBe(result.sessions.returning);
      expect(sessions.filter(([event]) => event === "session-end").length).toBeGreaterThanOrEqual(result.sessions.returning);
      // Pages that carry what the visitor's events call for are not reported.
      expect(result.decisions.checked).toBeGreaterThan(0);
      expect(result.problems).toMatchObject({ count: 0, notOk: 0, lostPersonalization: 0 });
    } finally {
      await server.close();
    }
  }, 60_000);

  it("reports every checked page that lost its personalization", async () => {
    const { drive } = await import("../../scripts/load/driver.ts");
    const server = await standIn(false);
    try {
      const result = await drive({ ...plan, url: server.url }, () => undefined);
      expect(result.decisions.checked).toBeGreaterThan(0);
      expect(result.problems.lostPersonalization).toBe(result.decisions.checked);
      expect(result.problems.lostToFallback).toBe(0);
      expect(result.problems.notOk).toBe(0);
    } finally {
      await server.close();
    }
  }, 60_000);
});
