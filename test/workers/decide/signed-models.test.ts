/**
 * Pages use only models a publish signed (shared/rules/signature.ts). KV is hostile: someone with
 * write access to the namespace but not the signing key can put a model under the key the rules
 * reference — item-to-item cards that send visitors to another site from the shop's own page, or a
 * scoring model that flips every decision. Whatever they write (no signature, a changed byte, a
 * signature from another key, another deployment's secret, metadata missing or garbled), the model
 * is refused as a missing one is: the rule that needs it falls back to the default content, says
 * so in Server-Timing, and the log names the key and the reason.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Model } from "../../../shared/rules/document.ts";
import { signStoredValue } from "../../../shared/rules/signature.ts";
import { recommendationsFrom } from "../../support/slot-documents.ts";
import { publishRules, request, storeSignedModel } from "../../support/worker/fixtures.ts";

const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36" };
/** The origin's own banner and bestsellers (demo-shop/pages.ts): what a visitor sees when no rule applies. */
const DEFAULT_BANNER = "Sign up for our newsletter";
const DEFAULT_GRID = '<div class="grid" data-slot="recommendations">\n<article class="card"';

/** What the published model shows, and what an attacker would rather show. */
const SIGNED_NAME = "Signed pick";
const PHISHING_URL = "https://phish.example/login";

function relatedModel(url = "/p/el-01", name = SIGNED_NAME): Model {
  return { type: "itemToItem", related: {}, items: { s1: { name, url } }, fallback: ["s1"] };
}

/** Each test its own key: an isolate keeps what it loaded (or refused) under a key. */
let keys = 0;
function freshKey(): string {
  keys += 1;
  return `models:related:signed-test-${keys}-${crypto.randomUUID().slice(0, 8)}`;
}

async function homepage(): Promise<{ status: number; html: string; timing: string }> {
  const response = await request("/", { headers: BROWSER });
  return { status: response.status, html: await response.text(), timing: response.headers.get("server-timing") ?? "" };
}

/**
 * Ways to write a model into KV without the signing key. `signed` is a correctly signed model
 * already stored under `other` (another key); each tampering writes `key`.
 */
const TAMPERINGS: { name: string; tamper: (key: string, other: { key: string; text: string; metadata: unknown }) => Promise<void> }[] = [
  {
    name: "a valid model put without any metadata (wrangler kv key put)",
    tamper: (key) => env.RULES.put(key, JSON.stringify(relatedModel(PHISHING_URL))),
  },
  {
    name: "one byte of a signed model changed, its signature kept",
    tamper: async (key) => {
      const signed = await storeSignedModel(key, relatedModel());
      await env.RULES.put(key, signed.text.replace(SIGNED_NAME, "Signed pic!"), { metadata: signed.metadata });
    },
  },
  {
    name: "the item URL of a signed model swapped for a phishing site, its signature kept",
    tamper: async (key) => {
      const signed = await storeSignedModel(key, relatedModel());
      await env.RULES.put(key, signed.text.replace('"/p/el-01"', JSON.stringify(PHISHING_URL)), { metadata: signed.metadata });
    },
  },
  {
    name: "a model signed for another key copied, signature and all",
    tamper: async (key, other) => {
      await env.RULES.put(key, other.text, { metadata: other.metadata });
    },
  },
  {
    name: "another model's signature on this key",
    tamper: async (key, other) => {
      const signed = await storeSignedModel(key, relatedModel());
      await env.RULES.put(key, other.text, { metadata: signed.metadata });
    },
  },
  {
    name: "signed with another deployment's secret",
    tamper: async (key) => {
      const text = JSON.stringify(relatedModel(PHISHING_URL));
      const signature = await signStoredValue("another-deployment-signing-key-0123456789", key, text);
      await env.RULES.put(key, text, { metadata: { author: "x", publishedAt: "x", signature } });
    },
  },
  ...[
    {},
    { author: "mallory", publishedAt: "2026-01-01T00:00:00Z" },
    { signature: null },
    { signature: 12345 },
    { signature: "" },
    { signature: "not-a-signature" },
    { signature: "A".repeat(43) },
    { signature: "A".repeat(44) },
    { signature: "=".repeat(43) },
    { signature: ["A".repeat(43)] },
    "A".repeat(43),
    42,
  ].map((metadata) => ({
    name: `metadata ${JSON.stringify(metadata).slice(0, 40)}`,
    tamper: (key: string) => env.RULES.put(key, JSON.stringify(relatedModel(PHISHING_URL)), { metadata }),
  })),
];

afterEach(() => {
  vi.restoreAllMocks();
});

describe("a model in KV", () => {
  it("is used when a publish signed it", async () => {
    const key = freshKey();
    await storeSignedModel(key, relatedModel(PHISHING_URL));
    await publishRules(recommendationsFrom(key));
    const page = await homepage();
    // The same model, signed, is shown (so each refusal below is the signature's doing).
    expect(page.html).toContain(`<a class="pick" href="${PHISHING_URL}">${SIGNED_NAME}</a>`);
    expect(page.html).not.toContain(DEFAULT_GRID);
    expect(page.timing).not.toContain("model-missing");
  });

  it.each(TAMPERINGS)("is refused like a missing one, with the default content and a log line: $name", async ({ tamper }) => {
    const other = await storeSignedModel(freshKey(), relatedModel(PHISHING_URL));
    const key = freshKey();
    await tamper(key, other);
    await publishRules(recommendationsFrom(key));
    const errors = vi.spyOn(console, "error");
    const page = await homepage();
    expect(page.status).toBe(200);
    expect([page.html.includes(DEFAULT_GRID), page.html.includes('class="pick"'), page.html.includes("phish.example")]).toEqual([
      true,
      false,
      false,
    ]);
    expect(page.timing).toContain('fallback;desc="model-missing:related"');
    const logged = errors.mock.calls.map((call) => String(call[0]));
    expect(logged).toContainEqual(JSON.stringify({ message: "model not signed", key }));
  });

  it("is refused when it is a logistic model written by hand that would flip a decision", async () => {
    const key = `models:intent:signed-test-${crypto.randomUUID().slice(0, 8)}`;
    // Scores everyone 1.0: the banner rule below would fire for every visitor.
    await env.RULES.put(key, JSON.stringify({ type: "logistic", intercept: 50, weights: {} }));
    const rules = {
      version: 1,
      slots: { banner: { selector: '[data-slot="banner"]' } },
      models: { intent: { kv: key } },
      rules: [
        {
          id: "intent",
          pages: ["/"],
          condition: { "models.intent": { $gte: 0.5 } },
          actions: { banner: { type: "setText", text: "Flipped" } },
        },
      ],
    };
    await publishRules(rules);
    const refused = await homepage();
    expect([refused.status, refused.html.includes(DEFAULT_BANNER), refused.html.includes("Flipped")]).toEqual([200, true, false]);
    expect(refused.timing).toContain('fallback;desc="model-missing:intent"');

    // The same model under a key a publish signed does decide.
    const signedKey = `${key}-signed`;
    await storeSignedModel(signedKey, { type: "logistic", intercept: 50, weights: {} });
    await publishRules({ ...rules, models: { intent: { kv: signedKey } } });
    expect((await homepage()).html).toContain("Flipped");
  });
});
