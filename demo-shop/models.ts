/**
 * The demo shop's model documents, built from its catalogue: an item-to-item model relating each
 * product to its neighbours in the same category (what `scripts/train` would learn from co-views
 * on a shop this small), and a small logistic "purchase intent" scorer.
 * @module
 */
import { signedModelEntry, signedVersionEntry } from "../scripts/lib/signed-version.ts";
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

/** Everything `npm run dev` puts into the local KV namespace: the demo rules, their pointer, the models, all signed with `signingKey`. */
export async function demoKvEntries(
  rules: { version: number },
  signingKey: string,
): Promise<{ key: string; value: string; metadata?: Record<string, unknown> }[]> {
  // Stored as a publish stores them: signed, the rules with their card templates compiled
  // (shared/rules/signature.ts); pages use nothing unsigned.
  const stored = await signedVersionEntry(rules, signingKey);
  return [
    await signedModelEntry(DEMO_RELATED_KEY, demoRelatedModel(), signingKey),
    stored,
    { key: "rules:live", value: JSON.stringify({ version: rules.version }) },
  ];
}
