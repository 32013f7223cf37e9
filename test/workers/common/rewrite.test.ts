/**
 * The rewriter never breaks a page: an action that throws while the page streams leaves that
 * element as the origin wrote it, the rest of the page arrives, and the failure is reported.
 * Also pins down what HTMLRewriter does with attribute values Tailor sets.
 */
import { describe, expect, it } from "vitest";
import type { AppliedAction, SlotDecision } from "../../../shared/rules/decide.ts";
import { rewritePage } from "../../../workers/common/rewrite.ts";

const PAGE =
  '<!doctype html><html><body><a id="logo" href="/">Shop</a><div id="hero">Default</div><p id="tail">End of page</p></body></html>';

function decision(selector: string, action: AppliedAction, slot = "hero"): SlotDecision {
  return { slot, selector, ruleId: "r", experiment: null, variant: null, action };
}

function page(): Response {
  return new Response(PAGE, { headers: { "content-type": "text/html" } });
}

describe("rewritePage", () => {
  it("leaves an element unchanged and streams the rest of the page when its action throws", async () => {
    const throwing: AppliedAction[] = [
      { type: "setAttribute", name: "a b", value: "x" },
      { type: "setAttribute", name: "", value: "x" },
    ];
    for (const action of throwing) {
      const failures: string[] = [];
      const html = await rewritePage(
        page(),
        [decision("#logo", action, "logo"), decision("#hero", { type: "setText", text: "Hi" })],
        (slot) => failures.push(slot),
      ).text();
      expect([action, failures]).toEqual([action, ["logo"]]);
      expect(html).toContain('<div id="hero" data-p13n-rule="r" data-p13n-slot="hero">Hi</div>');
      expect(html).toContain('<p id="tail">End of page</p></body></html>');
      expect(html).toContain('<a id="logo" href="/">Shop</a>');
    }
  });

  it("escapes quotes in attribute values it sets, and leaves & as written (the browser decodes entities)", async () => {
    const html = await rewritePage(page(), [
      decision("#logo", { type: "setAttribute", name: "title", value: '"><img src=x onerror=alert(1)>&#x61;' }, "logo"),
    ]).text();
    expect(html).toContain('title="&quot;><img src=x onerror=alert(1)>&#x61;"');
  });
});
