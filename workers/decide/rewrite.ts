/**
 * Applies slot decisions to the origin's HTML as it streams through HTMLRewriter: no buffering,
 * so the visitor's first byte is not delayed by the page's size.
 * @see https://developers.cloudflare.com/workers/runtime-apis/html-rewriter/
 * @module
 */
import type { SlotDecision } from "../../shared/rules/compile.ts";

class SlotHandler implements HTMLRewriterElementContentHandlers {
  constructor(readonly decision: SlotDecision) {}

  element(element: Element): void {
    const { action, ruleId } = this.decision;
    element.setAttribute("data-p13n-rule", ruleId);
    switch (action.type) {
      case "setText":
        element.setInnerContent(action.text, { html: false });
        break;
      case "setHtml":
        element.setInnerContent(action.html, { html: true });
        break;
    }
  }
}

/** Streams `response` through a rewriter that applies every decision. */
export function rewritePage(response: Response, decisions: readonly SlotDecision[]): Response {
  const rewriter = new HTMLRewriter();
  for (const decision of decisions) rewriter.on(decision.selector, new SlotHandler(decision));
  return rewriter.transform(response);
}
