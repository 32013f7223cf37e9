/**
 * `npm run cost -- [--pages 200] [--events 1000] [--returning 0.6] [--slots 3] [--events-per-beacon 2]
 * [--new-visitors N | --pages-per-visit 4] [--counts OLD.json] [--per-million] [--json]`: the monthly Cloudflare bill per product for a shop's traffic (page
 * views and events a second), with the unit prices used and the date they were read. Per-request
 * counts: `scripts/cost/measured-counts.json` when present (`npm run bench:ingest` writes it), else
 * the defaults derived from the code (`scripts/cost/model.ts` says where each comes from).
 * `--counts FILE` also prints the bill for another design's counts (e.g. the old one) as "before";
 * a file of rows per event (the old shape) is converted to rows per beacon, and says so.
 * New visitors a second (each creates a visitor object) default to page views × (1 − returning) ÷
 * pages per visit, printed as an assumption.
 * `--per-million` adds what a million page views and a million events cost (`cost/per-million.ts`).
 */
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import * as z from "../shared/zod.ts";
import {
  type Bill,
  COUNT_SOURCES,
  type Counts,
  countsFromFile,
  DEFAULT_COUNTS,
  DEFAULT_TRAFFIC,
  monthlyBill,
  newVisitorsOf,
  PAGES_PER_VISIT,
  PRICE_SOURCES,
  PRICES,
  PRICES_READ_ON,
  type Product,
  type Traffic,
  WORKERS_PAID_BASE_USD,
} from "./cost/model.ts";
import { costPerMillion, type PerMillion } from "./cost/per-million.ts";

const MEASURED = new URL("cost/measured-counts.json", import.meta.url);

/** A counts file: any of the counts (others keep their defaults); `measuredAt` and `command` say where they came from. */
const CountsFile = z.looseObject({
  measuredAt: z.optional(z.string()),
  command: z.optional(z.string()),
  ...Object.fromEntries(
    [...Object.keys(DEFAULT_COUNTS), "rowsWrittenPerEvent"].map((key) => [key, z.optional(z.number().check(z.gte(0)))]),
  ),
});

function readCounts(path: string | URL, base: Counts, eventsPerBeacon: number): { counts: Counts; note: string } {
  const parsed = CountsFile.safeParse(JSON.parse(readFileSync(path, "utf8")));
  if (!parsed.success)
    throw new Error(`${String(path)}: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
  const numbers = Object.fromEntries(Object.entries(parsed.data).filter(([, value]) => typeof value === "number")) as Record<
    string,
    number
  >;
  const { counts, converted } = countsFromFile(numbers, base, eventsPerBeacon);
  const origin = [parsed.data.command, parsed.data.measuredAt].filter((part) => typeof part === "string").join(", ");
  return {
    counts,
    note: `${String(path)}${origin === "" ? "" : ` (${origin})`}${converted === null ? "" : `\n  converted from the per-event shape: ${converted}`}`,
  };
}

const Number_ = (name: string, value: string | undefined, fallback: number, max = Number.POSITIVE_INFINITY): number => {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0 || number > max) throw new Error(`--${name} must be a number from 0 to ${max}, not ${value}`);
  return number;
};

const usd = (value: number) => `$${value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
const count = (value: number) => value.toLocaleString("en-US", { maximumFractionDigits: 0 });
const rate = (value: number) => value.toLocaleString("en-US", { maximumFractionDigits: 2 });

function table(bill: Bill): string[] {
  const rows = bill.lines.map(
    (line) =>
      `  ${line.product.padEnd(17)} ${line.unit.padEnd(13)} ${count(line.perMonth).padStart(18)}  ${usd(line.usd).padStart(12)}   ($${line.usdPerMillion}/M over ${count(line.includedPerMonth)} included)`,
  );
  const products = (Object.entries(bill.byProduct) as [Product, number][]).map(
    ([product, total]) => `  ${product.padEnd(17)} ${usd(total).padStart(12)}`,
  );
  return [
    "  product           unit                   per month          cost",
    ...rows,
    "",
    `  per product (Workers includes the $${WORKERS_PAID_BASE_USD} Workers Paid subscription):`,
    ...products,
    `  ${"total".padEnd(17)} ${usd(bill.totalUsd).padStart(12)} / month`,
  ];
}

function perMillionTable(cost: PerMillion): string[] {
  const dollars = (value: number) => `$${value.toFixed(2)}`;
  return [
    "Per million, before the included allowances and the subscription (the marginal price of traffic; KV's pointer reads left out):",
    "  product           per million page views   per million events",
    ...(Object.entries(cost.byProduct) as [Product, { pageViewsUsd: number; eventsUsd: number }][]).map(
      ([product, { pageViewsUsd, eventsUsd }]) =>
        `  ${product.padEnd(17)} ${dollars(pageViewsUsd).padStart(22)} ${dollars(eventsUsd).padStart(20)}`,
    ),
    `  ${"total".padEnd(17)} ${dollars(cost.pageViewsUsd).padStart(22)} ${dollars(cost.eventsUsd).padStart(20)}`,
    `  a million page views with their ${count(cost.eventsPerPageView)} events each: ${dollars(cost.pageViewsWithEventsUsd)}`,
  ];
}

function main(): void {
  const { values } = parseArgs({
    options: {
      pages: { type: "string" },
      events: { type: "string" },
      returning: { type: "string" },
      slots: { type: "string" },
      "events-per-beacon": { type: "string" },
      "new-visitors": { type: "string" },
      "pages-per-visit": { type: "string" },
      counts: { type: "string" },
      json: { type: "boolean", default: false },
      "per-million": { type: "boolean", default: false },
    },
  });
  const pages = Number_("pages", values.pages, DEFAULT_TRAFFIC.pages);
  const returning = Number_("returning", values.returning, DEFAULT_TRAFFIC.returning, 1);
  const pagesPerVisit = Number_("pages-per-visit", values["pages-per-visit"], PAGES_PER_VISIT, 1_000);
  if (pagesPerVisit < 1) throw new Error(`--pages-per-visit must be a number from 1 to 1000, not ${pagesPerVisit}`);
  const derived = values["new-visitors"] === undefined;
  const traffic: Traffic = {
    pages,
    events: Number_("events", values.events, DEFAULT_TRAFFIC.events),
    returning,
    slots: Number_("slots", values.slots, DEFAULT_TRAFFIC.slots, 100),
    eventsPerBeacon: Number_("events-per-beacon", values["events-per-beacon"], DEFAULT_TRAFFIC.eventsPerBeacon, 100),
    newVisitors: Number_("new-visitors", values["new-visitors"], newVisitorsOf(pages, returning, pagesPerVisit)),
  };
  const newVisitorsNote = derived
    ? `${rate(traffic.newVisitors)} new visitors a second, each creating a visitor object (assumed: ${count(pages)} page views × (1 − ${returning}) without state ÷ ${pagesPerVisit} pages a visit, every new visitor sending a beacon; --new-visitors to set)`
    : `${rate(traffic.newVisitors)} new visitors a second, each creating a visitor object (--new-visitors)`;
  const current = existsSync(MEASURED)
    ? readCounts(MEASURED, DEFAULT_COUNTS, traffic.eventsPerBeacon)
    : { counts: DEFAULT_COUNTS, note: "derived from the code (scripts/cost/model.ts, COUNT_SOURCES)" };
  const before = values.counts === undefined ? null : readCounts(values.counts, DEFAULT_COUNTS, traffic.eventsPerBeacon);
  const bill = monthlyBill(traffic, current.counts);
  const beforeBill = before === null ? null : monthlyBill(traffic, before.counts);
  const perMillion = values["per-million"] ? costPerMillion(traffic, current.counts) : null;

  if (values.json) {
    console.log(
      JSON.stringify(
        {
          traffic,
          newVisitors: newVisitorsNote,
          pricesReadOn: PRICES_READ_ON,
          priceSources: PRICE_SOURCES,
          prices: PRICES,
          counts: current.counts,
          countsFrom: current.note,
          bill,
          ...(perMillion === null ? {} : { perMillion }),
          ...(before === null || beforeBill === null
            ? {}
            : { before: { counts: before.counts, countsFrom: before.note, bill: beforeBill } }),
        },
        null,
        2,
      ),
    );
    return;
  }
  const out = [
    `Tailor on Cloudflare: ${count(traffic.pages)} page views and ${count(traffic.events)} events a second, ${traffic.returning * 100}% returning visitors, ${traffic.slots} slots a page, ${traffic.eventsPerBeacon} events a beacon; 30-day month.`,
    newVisitorsNote,
    `Unit prices (Workers Paid) read ${PRICES_READ_ON}:`,
    ...(Object.entries(PRICE_SOURCES) as [Product, string][]).map(([product, url]) => `  ${product}: ${url}`),
    `Per-request counts: ${current.note}`,
    ...(Object.entries(current.counts) as [keyof Counts, number][]).map(([key, value]) => `  ${key} = ${value}   (${COUNT_SOURCES[key]})`),
    "",
    ...(beforeBill === null || before === null ? [] : [`Before (counts from ${before.note}):`, ...table(beforeBill), "", "After:"]),
    ...table(bill),
    ...(perMillion === null ? [] : ["", ...perMillionTable(perMillion)]),
  ];
  console.log(out.join("\n"));
}

try {
  main();
} catch (error) {
  console.error(`cost: ${(error as Error).message}`);
  process.exit(2);
}
