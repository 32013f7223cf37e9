/**
 * The page benchmark's peers: Optimizely Edge Delivery (`@optimizely/edge-delivery`, edge-snippet
 * mode) and GrowthBook's edge app (`@growthbook/edge-cloudflare`), each making the same three slot
 * changes on the demo homepage as the rewriter-only baseline and Tailor's demo rules, through the
 * package's own experiment mechanism.
 *
 * Each peer is a small Worker under scripts/bench/workers/ that imports its package; esbuild bundles
 * it at bench start. Nothing reaches the internet: the experiment definitions are built here.
 * Optimizely's datafile goes to its Worker as a binding (the package's `DATA` option); GrowthBook's
 * feature payload is served by a small HTTP server on 127.0.0.1 standing in for GrowthBook's API,
 * which the edge app calls as it would cdn.growthbook.io and caches in memory. Besides that, the
 * only request either Worker makes is the page from the local origin (the peers test checks this
 * by routing every outbound request through a recorder).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** One slot change: which element, and the HTML it receives. */
export interface SlotEdit {
  slot: "hero" | "banner" | "recommendations";
  selector: string;
  html: string;
}

const CARD =
  '<article class="card" data-product-id="el-0N" data-category="electronics" data-price="99.99"><a href="/p/el-0N"><h3>Product N</h3></a><p class="price">€99.99</p><p class="blurb">Picked for you</p></article>';

/**
 * The three changes, character for character those of scripts/bench/workers/rewriter-only.js (the
 * peers test checks the baseline's page against this list too).
 */
export const EDITS: readonly SlotEdit[] = [
  {
    slot: "hero",
    selector: '[data-slot="hero"]',
    html: '<h1>Still thinking about new tech?</h1><p>Headphones, monitors and smart speakers: up to 20% off electronics this week, with free next-day delivery.</p><a class="cta" href="/c/electronics">Shop electronics</a>',
  },
  {
    slot: "banner",
    selector: '[data-slot="banner"]',
    html: "<p><strong>Your basket is waiting.</strong> Complete your order today and delivery is free.</p>",
  },
  {
    slot: "recommendations",
    selector: '[data-slot="recommendations"]',
    html: Array.from({ length: 8 }, (_, index) => CARD.replaceAll("N", String(index + 2))).join(""),
  },
];

/**
 * The slots whose element, in `html`, does not begin with its changed HTML (an empty list: all
 * three edits are there). Attributes the tools add to the element, and how they quote them, do not
 * matter; the content right after the opening tag must be the edit's HTML.
 */
export function missingEdits(html: string): string[] {
  return EDITS.filter((edit) => {
    const openingTag = new RegExp(`<[a-z]+\\b[^>]*\\bdata-slot=["']?${edit.slot}["']?[^>]*>`, "i").exec(html);
    if (openingTag === null) return true;
    return !html.startsWith(edit.html, openingTag.index + openingTag[0].length);
  }).map((edit) => edit.slot);
}

// Made-up account numbers: they only appear in the snippet URL the page references for browsers.
const OPTIMIZELY_ACCOUNT = "10000000001";
const OPTIMIZELY_PROJECT = "10000000002";
const OPTIMIZELY_SNIPPET = "10000000003";

/**
 * An Edge Delivery datafile (the JSON Optimizely publishes as web_sdk_v0.json) with one page that
 * matches every URL and one A/B experiment with a single variation that takes all traffic. The
 * variation's three changes are HTMLRewriter transforms flagged to run before the page reaches the
 * browser ([flags 1 = at the edge, selector, operation 6 = set inner HTML, html]).
 */
export function optimizelyDatafile(): unknown {
  const viewId = "20000000001";
  const layerId = "20000000002";
  const experimentId = "20000000003";
  const variationId = "20000000004";
  const changes = EDITS.map((edit, index) => ({
    id: `3000000000${index + 1}`,
    type: "custom_code",
    selector: edit.selector,
    dependencies: [],
    transform: [[1, edit.selector, 6, edit.html]],
  }));
  return {
    defines: {},
    config: {
      accountId: OPTIMIZELY_ACCOUNT,
      namespace: OPTIMIZELY_PROJECT,
      projectId: OPTIMIZELY_PROJECT,
      snippetId: OPTIMIZELY_SNIPPET,
      revision: "1",
      anonymizeIP: true,
      enableForceParameters: false,
      experimental: {},
      layers: [
        {
          id: layerId,
          name: "Homepage slots",
          commitId: "1",
          groupId: null,
          holdback: 0,
          activation: {},
          integrationSettings: {},
          integrationStringVersion: 2,
          policy: "single_experiment",
          viewIds: [viewId],
          changes: null,
          decisionMetadata: null,
          weightDistributions: null,
          experiments: [
            {
              id: experimentId,
              name: "Homepage slots",
              audienceIds: [],
              integrationSettings: {},
              bucketingStrategy: null,
              changes: null,
              weightDistributions: [{ entityId: variationId, endOfRange: 10000 }],
              variations: [{ id: variationId, name: "Slots", actions: [{ viewId, changes }] }],
            },
          ],
        },
      ],
      groups: [],
      audiences: [],
      listTargetingKeys: [],
      listTargetingCookies: [],
      visitorAttributes: [],
      visitorIdLocator: null,
      integrationSettings: [],
      views: [
        {
          id: viewId,
          category: "other",
          apiName: `${OPTIMIZELY_PROJECT}_homepage`,
          name: "Homepage",
          staticConditions: ["and", ["or", { type: "url", match: "regex", value: "." }]],
          activationType: "immediate",
          deactivationEnabled: false,
          undoOnDeactivation: false,
          tags: [],
        },
      ],
      events: [],
      dimensions: [],
      interestGroups: [],
      tagGroups: [],
      plugins: [],
    },
    queue: { unevaluatedViews: [viewId], unevaluatedAudiences: [], undecidedExperiences: [layerId], unappliedChangesets: [] },
    results: {
      activeViews: [],
      inactiveViews: [],
      activeAudiences: [],
      inactiveAudiences: [],
      activeExperiences: [],
      inactiveExperiences: [],
      appliedChangesets: [],
    },
  };
}

/**
 * A GrowthBook feature payload (what its API serves for an SDK key) with one visual-editor
 * experiment on the homepage: a control and one variation that sets the three slots' HTML, all
 * traffic on the variation, bucketed by the visitor's `id` (the `gbuuid` cookie).
 */
export function growthbookPayload(): unknown {
  return {
    status: 200,
    features: {},
    dateUpdated: "2026-11-01T00:00:00.000Z",
    experiments: [
      {
        key: "homepage-slots",
        changeId: "homepage-slots-1",
        hashAttribute: "id",
        hashVersion: 2,
        seed: "homepage-slots",
        coverage: 1,
        weights: [0, 1],
        urlPatterns: [{ include: true, type: "simple", pattern: "/" }],
        meta: [{ key: "0" }, { key: "1" }],
        variations: [
          { css: "", js: "", domMutations: [] },
          {
            css: "",
            js: "",
            domMutations: EDITS.map((edit) => ({ selector: edit.selector, action: "set", attribute: "html", value: edit.html })),
          },
        ],
      },
    ],
  };
}

/** A peer ready to start: its bundled Worker, its bindings, and one cookie per bench visitor. */
export interface Peer {
  name: string;
  script: string;
  bindings: Record<string, unknown>;
  cookies: string[];
}

/** The SDK key the GrowthBook peer asks the local stand-in for GrowthBook's API about. */
const GROWTHBOOK_CLIENT_KEY = "sdk-tailorbench";

/**
 * Serves the feature payload at GrowthBook's API path for the bench's SDK key, on 127.0.0.1.
 * Anything else is a 404.
 */
async function startGrowthbookApi(): Promise<{ url: string; requests(): number; close(): Promise<void> }> {
  const body = JSON.stringify(growthbookPayload());
  let served = 0;
  const server = createServer((request, response) => {
    if (request.method === "GET" && request.url === `/api/features/${GROWTHBOOK_CLIENT_KEY}`) {
      served++;
      response.writeHead(200, { "content-type": "application/json" }).end(body);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => served,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Bundles both peer Workers into a temporary folder under .wrangler/ (workerd will not load a
 * script from outside the working directory), starts the stand-in for GrowthBook's API and returns
 * the peers with their configuration. `dispose` stops the server and removes the folder.
 */
export async function preparePeers(originUrl: string, visitors: number): Promise<{ peers: Peer[]; dispose(): Promise<void> }> {
  const parent = fileURLToPath(new URL("../../.wrangler/", import.meta.url));
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, "bench-peers-"));
  const bundle = async (name: string): Promise<string> => {
    const outfile = join(dir, `${name}.js`);
    await build({
      entryPoints: [fileURLToPath(new URL(`./workers/${name}.js`, import.meta.url))],
      outfile,
      bundle: true,
      format: "esm",
      platform: "browser",
      // The packages' "worker"/"browser" builds, as wrangler would pick them.
      conditions: ["workerd", "worker", "browser"],
      target: "es2022",
      minify: true,
      logLevel: "silent",
    });
    return outfile;
  };
  const growthbookApi = await startGrowthbookApi();
  const index = (visitor: number) => String(visitor).padStart(5, "0");
  const peers: Peer[] = [
    {
      name: "Optimizely Edge Delivery",
      script: await bundle("optimizely"),
      bindings: {
        ORIGIN_URL: originUrl,
        PAGE_ORIGIN: "https://shop.example",
        OPTIMIZELY_ACCOUNT_ID: OPTIMIZELY_ACCOUNT,
        OPTIMIZELY_SNIPPET_ID: OPTIMIZELY_SNIPPET,
        OPTIMIZELY_DATA: optimizelyDatafile(),
      },
      cookies: Array.from({ length: visitors }, (_, visitor) => `optimizelyEndUserId=oeu1764633600000r0.${index(visitor)}`),
    },
    {
      name: "GrowthBook edge app",
      script: await bundle("growthbook"),
      bindings: {
        PROXY_TARGET: originUrl,
        GROWTHBOOK_API_HOST: growthbookApi.url,
        GROWTHBOOK_CLIENT_KEY,
        RUN_VISUAL_EDITOR_EXPERIMENTS: "edge",
      },
      cookies: Array.from({ length: visitors }, (_, visitor) => `gbuuid=bench-${index(visitor)}-0000-4000-8000-000000000000`),
    },
  ];
  return {
    peers,
    dispose: async () => {
      await growthbookApi.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
