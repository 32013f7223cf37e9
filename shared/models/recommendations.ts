/**
 * Item-to-item recommendations: products related to what the visitor viewed most recently,
 * interleaved so the newest view leads, never repeating a product the visitor just saw.
 * @module
 */

import { type CompiledTemplate, renderTemplate } from "../html/template-render.ts";

export interface ItemToItemDefinition {
  related: Readonly<Record<string, readonly string[]>>;
  items: Readonly<Record<string, { name: string; url: string; price?: number | undefined; category?: string | undefined }>>;
  fallback: readonly string[];
}

/** Up to `count` product ids to show, for the visitor's recent views (newest first). */
export function recommend(model: ItemToItemDefinition, recentViews: readonly string[], count: number): string[] {
  const seen = new Set(recentViews);
  const chosen: string[] = [];
  const add = (id: string) => {
    if (chosen.length < count && !seen.has(id) && Object.hasOwn(model.items, id)) {
      seen.add(id);
      chosen.push(id);
    }
  };
  const lists = recentViews.map((id) => (Object.hasOwn(model.related, id) ? (model.related[id] ?? []) : []));
  const longest = Math.max(0, ...lists.map((list) => list.length));
  for (let rank = 0; rank < longest && chosen.length < count; rank++) {
    for (const list of lists) {
      const id = list[rank];
      if (id !== undefined) add(id);
    }
  }
  for (const id of model.fallback) add(id);
  return chosen;
}

/**
 * Renders items through a compiled template (`{{id}} {{name}} {{url}} {{price}} {{category}}`), each
 * value escaped for the context it stands in (see shared/html/template-render.ts).
 */
export function renderItems(model: ItemToItemDefinition, ids: readonly string[], card: CompiledTemplate): string {
  return ids
    .map((id) => {
      const item = model.items[id];
      if (item === undefined) return "";
      return renderTemplate(card, {
        id,
        name: item.name,
        url: item.url,
        price: item.price === undefined ? "" : item.price.toFixed(2),
        category: item.category ?? "",
      });
    })
    .join("");
}
