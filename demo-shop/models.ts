/**
 * The demo shop's model documents, built from its catalogue: an item-to-item model relating each
 * product to its neighbours in the same category (what `scripts/train` would learn from co-views
 * on a shop this small), and a small logistic "purchase intent" scorer.
 * @module
 */
import { CATEGORIES, PRODUCTS, productsIn } from "./catalog.ts";

export const DEMO_RELATED_KEY = "models:related:demo-1";

export function demoRelatedModel() {
  const related: Record<string, string[]> = {};
  for (const category of CATEGORIES) {
    const products = productsIn(category);
    products.forEach((product, index) => {
      related[product.id] = [1, 2, 3, 4, 5, 6].map((step) => products[(index + step) % products.length]?.id ?? product.id);
    });
  }
  const items = Object.fromEntries(
    PRODUCTS.map((product) => [
      product.id,
      { name: product.name, url: `/p/${product.id}`, price: product.price, category: product.category },
    ]),
  );
  return {
    type: "itemToItem" as const,
    description: "Same-category neighbours from the demo catalogue",
    related,
    items,
    fallback: CATEGORIES.map((category) => productsIn(category)[0]?.id ?? ""),
  };
}

/** Everything `npm run dev` puts into the local KV namespace: the demo rules, their pointer, the models. */
export function demoKvEntries(rules: { version: number }): { key: string; value: string }[] {
  return [
    { key: DEMO_RELATED_KEY, value: JSON.stringify(demoRelatedModel()) },
    { key: `rules:version:${rules.version}`, value: JSON.stringify(rules) },
    { key: "rules:live", value: JSON.stringify({ version: rules.version }) },
  ];
}
