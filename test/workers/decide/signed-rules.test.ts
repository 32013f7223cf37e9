/**
 * The page path serves only rules versions a publish signed (shared/rules/signature.ts). KV is
 * hostile: someone with write access to the namespace can put anything under `rules:version:<n>`
 * and move the pointer. Whatever they change after the publish (a byte of HTML, a pattern, the
 * compiled card templates, the signature or its key, the key the value sits under), the version is
 * refused, counted, and the visitor gets the page: the default page when nothing good was loaded.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { RULES_LIVE_KEY, rulesVersionKey } from "../../../shared/rules/document.ts";
import { signStoredValue } from "../../../shared/rules/signature.ts";
import { forgetRules } from "../../../workers/common/rules-store.ts";
import { recordingAnalytics, request, storeSignedVersion } from "../../support/worker/fixtures.ts";

const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36" };
/** The origin's own hero (demo-shop/pages.ts): what a visitor sees when no rules apply. */
const DEFAULT_HERO = "<h1>Autumn essentials</h1>";
const SIGNED_HTML = "<p>Signed hero</p>";

/** A document whose rule applies to every visitor of `/`: through a `$regex` that matches the missing attribute's "null". */
function heroDocument(version: number) {
  return {
    version,
    slots: { hero: { selector: '[data-slot="hero"]' } },
    rules: [
      {
        id: "signed-hero",
        condition: { "custom.anything": { $regex: "^[nul]+$" } },
        actions: { hero: { type: "setHtml", html: SIGNED_HTML } },
      },
    ],
  };
}

async function stored(version: number): Promise<{ text: string; metadata: { signature?: string } }> {
  const { value, metadata } = await env.RULES.getWithMetadata<{ signature?: string }>(rulesVersionKey(version), "text");
  if (value === null || metadata === null) throw new Error(`version ${version} is not stored`);
  return { text: value, metadata };
}

/** The homepage for a fresh isolate state whose live pointer names `version`. */
async function homepageServing(version: number, analytics?: AnalyticsEngineDataset): Promise<string> {
  await env.RULES.put(RULES_LIVE_KEY, JSON.stringify({ version }));
  forgetRules();
  const response = await request("/", { headers: BROWSER }, analytics === undefined ? {} : { ANALYTICS: analytics });
  expect(response.status).toBe(200);
  return response.text();
}

/** Ways to change a signed version in KV after its publish; each writes version `to`. */
const TAMPERINGS: { name: string; tamper: (from: number, to: number) => Promise<void> }[] = [
  {
    name: "one byte of the HTML changed, signature kept",
    tamper: async (from, to) => {
      const { text, metadata } = await stored(from);
      const altered = text.replace("Signed hero", "Signet hero").replace(`"version":${from}`, `"version":${to}`);
      await env.RULES.put(rulesVersionKey(to), altered, { metadata });
    },
  },
  {
    name: "the HTML swapped for a script, signature kept",
    tamper: async (from, to) => {
      const { text, metadata } = await stored(from);
      const altered = text.replace(SIGNED_HTML, "<img src=x onerror=alert(1)>").replace(`"version":${from}`, `"version":${to}`);
      await env.RULES.put(rulesVersionKey(to), altered, { metadata });
    },
  },
  {
    name: "the pattern swapped for a catastrophic one, signature kept",
    tamper: async (from, to) => {
      const { text, metadata } = await stored(from);
      const altered = text.replace("^[nul]+$", "^(n+)+$").replace(`"version":${from}`, `"version":${to}`);
      await env.RULES.put(rulesVersionKey(to), altered, { metadata });
    },
  },
  {
    name: "a compiled card template added, signature kept",
    tamper: async (from, to) => {
      const { text, metadata } = await stored(from);
      const altered = text
        .replace('"templates":{', '"templates":{"x":{"parts":["<img src=x onerror=alert(1)>"]},')
        .replace(`"version":${from}`, `"version":${to}`);
      await env.RULES.put(rulesVersionKey(to), altered, { metadata });
    },
  },
  {
    name: "the signature removed",
    tamper: async (from, to) => {
      const { text } = await stored(from);
      await env.RULES.put(rulesVersionKey(to), text.replace(`"version":${from}`, `"version":${to}`));
    },
  },
  {
    name: "signed with another deployment's key",
    tamper: async (from, to) => {
      const text = (await stored(from)).text.replace(`"version":${from}`, `"version":${to}`);
      const signature = await signStoredValue("another-deployment-signing-key-0123456789", rulesVersionKey(to), text);
      await env.RULES.put(rulesVersionKey(to), text, { metadata: { author: "x", message: "x", publishedAt: "x", signature } });
    },
  },
  {
    name: "a signed version copied, signature and all, under another number",
    tamper: async (from, to) => {
      const { text, metadata } = await stored(from);
      await env.RULES.put(rulesVersionKey(to), text, { metadata });
    },
  },
  ...["", "not-a-signature", "A".repeat(43), "A".repeat(44), "=".repeat(43)].map((signature) => ({
    name: `a forged signature ${JSON.stringify(signature.slice(0, 16))}${signature.length > 16 ? "…" : ""}`,
    tamper: async (from: number, to: number) => {
      const text = (await stored(from)).text.replace(`"version":${from}`, `"version":${to}`);
      await env.RULES.put(rulesVersionKey(to), text, { metadata: { signature } });
    },
  })),
  {
    name: "a valid document written by hand in the old, bare form",
    tamper: async (_from, to) => {
      await env.RULES.put(rulesVersionKey(to), JSON.stringify(heroDocument(to)));
    },
  },
];

describe("a rules version changed in KV after its publish", () => {
  beforeEach(async () => {
    await storeSignedVersion(heroDocument(1), 1);
  });

  it("is served as published when nothing was changed", async () => {
    const page = await homepageServing(1);
    expect(page).toContain(SIGNED_HTML);
    expect(page).not.toContain(DEFAULT_HERO);
  });

  it.each(TAMPERINGS)("is refused and counted, and the visitor gets the default page: $name", async ({ tamper }) => {
    // The same change made to a freshly signed copy is what is served (so the refusal is the signature's doing).
    expect(await homepageServing(1)).toContain(SIGNED_HTML);
    await tamper(1, 2);
    const analytics = recordingAnalytics();
    const page = await homepageServing(2, analytics.dataset);
    expect([page.includes(DEFAULT_HERO), page.includes("hero</p>"), page.includes("alert(1)")]).toEqual([true, false, false]);
    const refusals = analytics.points.filter((point) => point.blobs?.[0] === "rules" && point.blobs[1] === "refused");
    expect(refusals.map((point) => point.doubles?.[1])).toEqual([2]);
  });

  it("keeps serving the last good version when the pointer moves to a changed one", async () => {
    expect(await homepageServing(1)).toContain(SIGNED_HTML);
    const tampering = TAMPERINGS[0];
    if (tampering === undefined) throw new Error("no tampering");
    await tampering.tamper(1, 2);
    await env.RULES.put(RULES_LIVE_KEY, JSON.stringify({ version: 2 }));
    // The isolate keeps version 1 and re-reads the pointer in the background; a few pages later it has seen version 2.
    for (let attempt = 0; attempt < 3; attempt++) await (await request("/", { headers: BROWSER }, { RULES_REFRESH_MS: "0" })).text();
    const page = await (await request("/", { headers: BROWSER }, { RULES_REFRESH_MS: "0" })).text();
    expect([page.includes(SIGNED_HTML), page.includes("Signet")]).toEqual([true, false]);
  });
});
