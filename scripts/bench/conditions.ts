/**
 * Rule-evaluation benchmark: Tailor's compiled conditions against GrowthBook's `evalCondition`
 * (the interpreter it is compatible with) on the same workload — 100 rules with about 400
 * conditions over about 40 attributes, for 1,000 visitors. The match sets are checked to be
 * identical first; then both run the full workload repeatedly, alternating, and the median
 * throughputs and their ratio are printed.
 *
 *   npm run bench:conditions
 */
import { evalCondition as growthbookEval } from "@growthbook/growthbook";
import { compileCondition } from "../../shared/rules/condition.ts";
import { formatNumber, median } from "./stats.ts";

const RULES = 100;
const VISITORS = 1_000;
const ROUNDS = 7;

let state = 20_261_126;
function random(): number {
  state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
  return state / 4_294_967_296;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const int = (max: number) => Math.floor(random() * max);

const CATEGORIES = ["electronics", "outdoor", "home", "fashion"];
const COUNTRIES = ["DE", "AT", "CH", "FR", "NL", "US", "GB", "IT", "ES", "PL"];

function visitor(): Record<string, unknown> {
  const windows = ["5m", "10m", "1h", "24h", "7d"];
  const behavior: Record<string, unknown> = {};
  for (const window of windows) {
    behavior[`views_${window}`] = { total: int(12), category: Object.fromEntries(CATEGORIES.map((category) => [category, int(5)])) };
  }
  behavior.adds_24h = { total: int(3) };
  return {
    geo: {
      country: pick(COUNTRIES),
      city: pick(["Berlin", "Vienna", "Paris", "London", "Rome"]),
      continent: pick(["EU", "NA"]),
      eu: random() < 0.7,
    },
    device: {
      type: pick(["mobile", "desktop", "tablet"]),
      browser: pick(["chrome", "safari", "firefox", "edge"]),
      os: pick(["ios", "android", "windows", "macos"]),
    },
    language: pick(["de", "en", "fr", "it"]),
    languages: [pick(["de", "en"]), pick(["fr", "it", "en"])],
    utm: {
      source: pick(["google", "newsletter", "facebook", null]),
      campaign: pick(["autumn", "black-friday", null]),
      medium: pick(["cpc", "email", null]),
    },
    referrer: { host: pick(["www.google.com", "news.example", null]) },
    page: { path: pick(["/", "/c/electronics", "/p/el-01"]) },
    behavior,
    session: { count: int(8), minutes: int(40), page_views: int(15), active: random() < 0.8 },
    recency: { minutes_since_last_seen: int(600), last_category: pick(CATEGORIES), last_products: [`el-0${int(9)}`, `hm-0${int(9)}`] },
    cart: { value: int(400), items: int(5), categories: [pick(CATEGORIES)] },
    orders: { count: int(3) },
    traits: {
      plan: pick(["free", "gold", "platinum"]),
      newsletter: random() < 0.4,
      app_version: pick(["1.2.3", "1.10.0", "2.0.0-beta.1"]),
    },
    models: { intent: random() },
    time: { hour: int(24), weekday: pick(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]) },
  };
}

function clause(): Record<string, unknown> {
  const category = pick(CATEGORIES);
  const window = pick(["5m", "10m", "1h", "24h", "7d"]);
  return pick<() => Record<string, unknown>>([
    () => ({ [`behavior.views_${window}.category.${category}`]: { $gte: 1 + int(3) } }),
    () => ({ [`behavior.views_${window}.total`]: { $gt: int(6), $lt: 8 + int(6) } }),
    () => ({ "geo.country": { $in: [pick(COUNTRIES), pick(COUNTRIES), pick(COUNTRIES)] } }),
    () => ({ "geo.eu": true }),
    () => ({ "device.type": pick(["mobile", "desktop"]) }),
    () => ({ "device.browser": { $ne: "safari" } }),
    () => ({ language: { $in: ["de", "en"] } }),
    () => ({ languages: { $elemMatch: { $eq: pick(["fr", "it"]) } } }),
    () => ({ "utm.campaign": { $exists: true } }),
    () => ({ "utm.source": { $regex: "^(google|facebook)$" } }),
    () => ({ "referrer.host": { $regexi: "GOOGLE" } }),
    () => ({ "session.count": { $gte: 2 } }),
    () => ({ "cart.value": { $gte: 50 + int(200) } }),
    () => ({ "cart.categories": { $in: [category] } }),
    () => ({ "recency.last_category": category }),
    () => ({ "recency.last_products": { $size: { $gte: 1 } } }),
    () => ({ "traits.plan": { $nin: ["free"] } }),
    () => ({ "traits.app_version": { $vgte: "1.10.0" } }),
    () => ({ "models.intent": { $gte: 0.5 } }),
    () => ({ "time.hour": { $gte: 8, $lt: 20 } }),
    () => ({ "time.weekday": { $in: ["sat", "sun"] } }),
    () => ({ $or: [{ "orders.count": { $gte: 1 } }, { "traits.newsletter": true }] }),
    () => ({ $not: { "page.path": "/p/el-01" } }),
  ])();
}

function rule(): Record<string, unknown> {
  const condition: Record<string, unknown> = {};
  const clauses = 3 + int(3);
  const extra: Record<string, unknown>[] = [];
  for (let index = 0; index < clauses; index++) {
    const next = clause();
    const [key] = Object.keys(next);
    if (key !== undefined && !(key in condition) && key !== "$or" && key !== "$not") Object.assign(condition, next);
    else extra.push(next);
  }
  if (extra.length > 0) condition.$and = extra;
  return condition;
}

function countConditions(condition: unknown): number {
  if (condition === null || typeof condition !== "object") return 0;
  let count = 0;
  for (const [key, value] of Object.entries(condition)) {
    if (key === "$and" || key === "$or" || key === "$nor")
      count += (value as unknown[]).reduce<number>((sum, part) => sum + countConditions(part), 0);
    else if (key === "$not") count += countConditions(value);
    else count++;
  }
  return count;
}

const conditions = Array.from({ length: RULES }, rule);
const visitors = Array.from({ length: VISITORS }, visitor);
const compiled = conditions.map((condition) => compileCondition(condition));
const attributePaths = new Set(JSON.stringify(conditions).match(/"[a-z_]+(\.[a-z0-9_]+)+"|"language[s]?"/g) ?? []);

// 1. Same answers.
let matches = 0;
for (const attributes of visitors) {
  conditions.forEach((condition, index) => {
    const expected = growthbookEval(attributes, condition as never);
    const actual = compiled[index]?.(attributes);
    if (expected !== actual) throw new Error(`mismatch on rule ${index}: ${JSON.stringify(condition)}`);
    if (actual) matches++;
  });
}
console.log(
  `workload: ${RULES} rules, ${conditions.reduce((sum, condition) => sum + countConditions(condition), 0)} conditions, ${attributePaths.size} distinct attributes, ${VISITORS} visitors; ${matches} of ${RULES * VISITORS} rule/visitor pairs match; identical results from both`,
);

// 2. Throughput, alternating, median of rounds.
function timeRound(evaluate: (attributes: Record<string, unknown>, index: number) => boolean): number {
  const started = performance.now();
  let sink = 0;
  for (const attributes of visitors) for (let index = 0; index < RULES; index++) if (evaluate(attributes, index)) sink++;
  const seconds = (performance.now() - started) / 1_000;
  if (sink < 0) console.log(sink);
  return (RULES * VISITORS) / seconds;
}
const oursRuns: number[] = [];
const theirsRuns: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  theirsRuns.push(timeRound((attributes, index) => growthbookEval(attributes, conditions[index] as never)));
  oursRuns.push(timeRound((attributes, index) => compiled[index]?.(attributes) ?? false));
}
const ours = median(oursRuns);
const theirs = median(theirsRuns);
console.log(`GrowthBook evalCondition: ${formatNumber(theirs / 1e6, 2)} M rule evaluations/s`);
console.log(`Tailor compiled:          ${formatNumber(ours / 1e6, 2)} M rule evaluations/s`);
console.log(`ratio: ${formatNumber(ours / theirs, 1)}x (median of ${ROUNDS} alternating rounds)`);
