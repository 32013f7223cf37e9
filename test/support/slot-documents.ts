/**
 * The rules document the page tests publish: the homepage's hero and banner slots and one rule for
 * visitors who viewed electronics. Pure data, so any test project can share it.
 */
import type { RulesDocumentInput } from "../../shared/rules/document.ts";

/** Sets the hero's text to "Electronics for you" for visitors with an electronics view in the last 10 minutes. */
export const ELECTRONICS_RULE = {
  id: "electronics-hero",
  priority: 100,
  condition: { "behavior.views_10m.category.electronics": { $gte: 1 } },
  actions: { hero: { type: "setText" as const, text: "Electronics for you" } },
};

/** Version 1 with the hero and banner slots and `ELECTRONICS_RULE`, with `overrides` on top. */
export function documentWith(overrides: Partial<RulesDocumentInput> = {}): RulesDocumentInput {
  return {
    version: 1,
    slots: { hero: { selector: '[data-slot="hero"]' }, banner: { selector: '[data-slot="banner"]' } },
    rules: [ELECTRONICS_RULE],
    ...overrides,
  };
}

/**
 * Rules (version 1) whose only rule fills the homepage's recommendations slot from the item-to-item
 * model at KV `key`, rendered as `<a class="pick" href="{{url}}">{{name}}</a>` per item: what the
 * signed-model tests publish to see whether a page used a model.
 */
export function recommendationsFrom(key: string) {
  return {
    version: 1,
    slots: { recommendations: { selector: '[data-slot="recommendations"]' } },
    models: { related: { kv: key } },
    rules: [
      {
        id: "recs",
        pages: ["/"],
        actions: {
          recommendations: {
            type: "recommendations" as const,
            model: "related",
            template: '<a class="pick" href="{{url}}">{{name}}</a>',
          },
        },
      },
    ],
  };
}
