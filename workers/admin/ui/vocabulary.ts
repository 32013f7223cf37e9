/**
 * The words the editor offers a marketer instead of attribute paths and operators. Shared by the
 * server-rendered pages and the browser script.
 * @module
 */

export interface AttributeChoice {
  path: string;
  label: string;
  kind: "number" | "text";
}

const CATEGORIES = ["electronics", "outdoor", "home", "fashion"];
const WINDOWS: [string, string][] = [
  ["10m", "in the last 10 minutes"],
  ["1h", "in the last hour"],
  ["24h", "in the last 24 hours"],
  ["7d", "in the last 7 days"],
];

export const ATTRIBUTE_CHOICES: AttributeChoice[] = [
  ...WINDOWS.flatMap(([window, words]) =>
    CATEGORIES.map((category) => ({
      path: `behavior.views_${window}.category.${category}`,
      label: `${category} products viewed ${words}`,
      kind: "number" as const,
    })),
  ),
  ...WINDOWS.map(([window, words]) => ({
    path: `behavior.views_${window}.total`,
    label: `products viewed ${words}`,
    kind: "number" as const,
  })),
  { path: "behavior.adds_24h.total", label: "products added to basket in the last 24 hours", kind: "number" },
  { path: "cart.value", label: "basket value (€)", kind: "number" },
  { path: "cart.items", label: "items in basket", kind: "number" },
  { path: "orders.count", label: "orders placed", kind: "number" },
  { path: "session.count", label: "number of visits", kind: "number" },
  { path: "session.page_views", label: "pages seen this visit", kind: "number" },
  { path: "recency.last_category", label: "last category looked at", kind: "text" },
  { path: "geo.country", label: "country (two letters, e.g. DE)", kind: "text" },
  { path: "device.type", label: "device (mobile, tablet, desktop)", kind: "text" },
  { path: "language", label: "browser language (e.g. de)", kind: "text" },
  { path: "utm.campaign", label: "campaign (utm_campaign)", kind: "text" },
  { path: "utm.source", label: "traffic source (utm_source)", kind: "text" },
  { path: "time.hour", label: "hour of day, visitor's time", kind: "number" },
  { path: "time.weekday", label: "weekday (mon … sun)", kind: "text" },
  { path: "traits.plan", label: "customer plan (from sign-in)", kind: "text" },
  { path: "models.intent", label: "purchase-intent score (0–1)", kind: "number" },
];

export const OPERATOR_CHOICES: { operator: string; label: string }[] = [
  { operator: "$gte", label: "is at least" },
  { operator: "$gt", label: "is more than" },
  { operator: "$lte", label: "is at most" },
  { operator: "$lt", label: "is less than" },
  { operator: "$eq", label: "is" },
  { operator: "$ne", label: "is not" },
  { operator: "$in", label: "is one of (comma-separated)" },
];

export const ACTION_CHOICES: { type: string; label: string; field: "text" | "html" | "none" }[] = [
  { type: "setHtml", label: "Replace the content (HTML)", field: "html" },
  { type: "setText", label: "Replace the text", field: "text" },
  { type: "append", label: "Add at the end (HTML)", field: "html" },
  { type: "prepend", label: "Add at the start (HTML)", field: "html" },
  { type: "remove", label: "Hide it", field: "none" },
];

/** Sample visitors for the preview pane, described the way a marketer would. */
export const SAMPLE_VISITORS: { id: string; label: string; attributes: Record<string, unknown> }[] = [
  {
    id: "new",
    label: "A first-time visitor from Germany on a desktop",
    attributes: { "geo.country": "DE", "device.type": "desktop", "visitor.new": true },
  },
  {
    id: "electronics",
    label: "Viewed 3 electronics products in the last 10 minutes, from Germany, on mobile",
    attributes: {
      "behavior.views_10m.category.electronics": 3,
      "behavior.views_1h.category.electronics": 3,
      "behavior.views_10m.total": 3,
      "behavior.views_1h.total": 3,
      "recency.last_products": ["el-02", "el-05", "el-07"],
      "recency.last_category": "electronics",
      "geo.country": "DE",
      "device.type": "mobile",
    },
  },
  {
    id: "basket",
    label: "Has 2 items (€120) in the basket, returning for the 3rd time",
    attributes: { "cart.items": 2, "cart.value": 120, "session.count": 3, "behavior.adds_24h.total": 2 },
  },
  {
    id: "outdoor",
    label: "Browsed outdoor gear this week, from Austria",
    attributes: {
      "behavior.views_7d.category.outdoor": 6,
      "behavior.views_24h.category.outdoor": 2,
      "recency.last_category": "outdoor",
      "recency.last_products": ["od-03"],
      "geo.country": "AT",
    },
  },
];
