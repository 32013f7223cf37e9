/**
 * Applies slot decisions to the origin's HTML as it streams through HTMLRewriter: no buffering,
 * so the visitor's first byte is not delayed by the page's size. Text is always escaped; HTML is
 * inserted as HTML only by the actions that say so, and that HTML passed the allowlist when the
 * rules were published and again when they were loaded (shared/html/markup.ts).
 * @see https://developers.cloudflare.com/workers/runtime-apis/html-rewriter/
 * @module
 */
import type { SlotDecision } from "../../shared/rules/decide.ts";

const AS_HTML = { html: true } as const;
const AS_TEXT = { html: false } as const;

/** JSON inside `<script>`: `<`, `>` and `&` escaped so the data cannot end the element early. */
function scriptSafeJson(data: unknown): string {
  return JSON.stringify(data).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

function classList(element: Element): string[] {
  return (element.getAttribute("class") ?? "").split(/\s+/).filter((name) => name !== "");
}

/** Told the slot whose action could not be applied, for the fallback count. */
export type RewriteFailure = (slot: string, error: unknown) => void;

/**
 * Applies one slot's action to each matching element. A handler that throws would abort the
 * stream halfway through a page that has already started (the origin's page cannot be sent
 * instead any more), so a failure leaves that element as the origin wrote it and is reported.
 */
class SlotHandler implements HTMLRewriterElementContentHandlers {
  /** Reported once per page and slot, however many elements fail. */
  #reported = false;

  constructor(
    readonly decision: SlotDecision,
    readonly onFailure: RewriteFailure,
  ) {}

  element(element: Element): void {
    try {
      this.apply(element);
    } catch (error) {
      if (!this.#reported) this.onFailure(this.decision.slot, error);
      this.#reported = true;
    }
  }

  apply(element: Element): void {
    const { action, ruleId, variant, experiment, slot } = this.decision;
    switch (action.type) {
      case "setText":
        element.setInnerContent(action.text, AS_TEXT);
        break;
      case "setHtml":
        element.setInnerContent(action.html, AS_HTML);
        break;
      case "replace":
        element.replace(action.html, AS_HTML);
        break;
      case "before":
        element.before(action.html, AS_HTML);
        break;
      case "after":
        element.after(action.html, AS_HTML);
        break;
      case "prepend":
        element.prepend(action.html, AS_HTML);
        break;
      case "append":
        element.append(action.html, AS_HTML);
        break;
      case "remove":
        element.remove();
        break;
      case "setAttribute":
        element.setAttribute(action.name, action.value);
        break;
      case "removeAttribute":
        element.removeAttribute(action.name);
        break;
      case "addClass": {
        const names = classList(element);
        if (!names.includes(action.className)) element.setAttribute("class", [...names, action.className].join(" "));
        break;
      }
      case "removeClass":
        element.setAttribute(
          "class",
          classList(element)
            .filter((name) => name !== action.className)
            .join(" "),
        );
        break;
      case "injectJson":
        element.append(
          `<script type="application/json" id="${escapeAttribute(action.id)}">${scriptSafeJson(action.data)}</script>`,
          AS_HTML,
        );
        break;
    }
    if (action.type !== "remove" && action.type !== "replace") {
      // What the tracker reads to attribute a click in this element to its rule and variant; set
      // after the action, so an action that fails leaves the element as the origin wrote it.
      element.setAttribute("data-p13n-rule", ruleId);
      element.setAttribute("data-p13n-slot", slot);
      if (experiment !== null) element.setAttribute("data-p13n-experiment", experiment);
      if (variant !== null) element.setAttribute("data-p13n-variant", variant);
    }
  }
}

/** Streams `response` through a rewriter that applies every decision; `onFailure` hears of actions that could not be applied. */
export function rewritePage(response: Response, decisions: readonly SlotDecision[], onFailure: RewriteFailure = () => undefined): Response {
  const rewriter = new HTMLRewriter();
  for (const decision of decisions) rewriter.on(decision.selector, new SlotHandler(decision, onFailure));
  return rewriter.transform(response);
}

/** Null when HTMLRewriter accepts `selector`, otherwise its complaint. */
export function selectorProblem(selector: string): string | null {
  try {
    new HTMLRewriter().on(selector, {});
    return null;
  } catch (error) {
    return `HTMLRewriter cannot use this selector: ${(error as Error).message}`;
  }
}
