/**
 * Item-to-item recommendations: products related to what the visitor viewed most recently,
 * interleaved so the newest view leads, never repeating a product the visitor just saw.
 * @module
 */

import { type CompiledTemplate, compileTemplate, renderTemplate } from "../html/template.ts";
import { LruCache } from "../lru.ts";

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

/** Compiled templates by source: a rules version uses a handful, and compiling parses HTML. */
const compiledTemplates = new LruCache<string, CompiledTemplate | null>(100);

function compiled(template: string): CompiledTemplate | null {
  let entry = compiledTemplates.get(template);
  if (entry === undefined) {
    const result = compileTemplate(template);
    entry = result.ok ? result.value : null;
    compiledTemplates.set(template, entry);
  }
  return entry;
}

/**
 * Renders items through a template with `{{id}} {{name}} {{url}} {{price}} {{category}}`, each value
 * escaped for the context it stands in (see shared/html/template.ts). Null when the template cannot be compiled
 * (a document that passed validation never has one).
 */
export function renderItems(model: ItemToItemDefinition, ids: readonly string[], template: string): string | null {
  const card = compiled(template);
  if (card === null) return null;
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
