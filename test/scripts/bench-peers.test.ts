/**
 * The page benchmark's peers (scripts/bench/peers.ts): the Optimizely and GrowthBook Workers, bundled
 * as the bench bundles them and run on Miniflare against the demo shop, make the same three slot
 * changes as the rewriter-only baseline for visitors with cookies, and reach nothing but 127.0.0.1.
 * No timings are asserted.
 */
import { Miniflare, type Request as OutboundRequest } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemoShop } from "../../demo-shop/server.ts";
import { EDITS, missingEdits, type Peer, preparePeers } from "../../scripts/bench/peers.ts";

const VISITORS = 3;
const USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36";

let shop: Awaited<ReturnType<typeof startDemoShop>>;
let prepared: Awaited<ReturnType<typeof preparePeers>>;
/** Every URL a Worker asked for, by Worker. */
const outbound = new Map<string, string[]>();
const running: Miniflare[] = [];

/** Starts a Worker whose every outbound request is recorded, then passed on only to 127.0.0.1. */
async function start(name: string, scriptPath: string, bindings: Record<string, unknown>): Promise<Miniflare> {
  const seen: string[] = [];
  outbound.set(name, seen);
  const miniflare = new Miniflare({
    modules: true,
    scriptPath,
    compatibilityDate: "2026-04-20",
    bindings,
    cf: false,
    outboundService: async (request: OutboundRequest) => {
      seen.push(request.url);
      if (new URL(request.url).hostname !== "127.0.0.1") return new Response("not on this machine", { status: 502 });
      return fetch(request.url, { method: request.method, headers: request.headers });
    },
  });
  running.push(miniflare);
  await miniflare.ready;
  return miniflare;
}

beforeAll(async () => {
  shop = await startDemoShop();
  prepared = await preparePeers(shop.url, VISITORS);
}, 120_000);

afterAll(async () => {
  await Promise.all(running.map((miniflare) => miniflare.dispose()));
  await prepared?.dispose();
  await shop?.close();
});

describe("the edit check", () => {
  let baselinePage = "";
  beforeAll(async () => {
    const baseline = await start("rewriter-only", "scripts/bench/workers/rewriter-only.js", { ORIGIN_URL: shop.url });
    baselinePage = await (await baseline.dispatchFetch("http://127.0.0.1/")).text();
  });

  it("finds all three slots unchanged on the origin's homepage", async () => {
    const html = await (await fetch(`${shop.url}/`)).text();
    expect(missingEdits(html)).toEqual(["hero", "banner", "recommendations"]);
  });

  it.each([
    ["a slot left out", (html: string) => html.replace(EDITS[1]?.html ?? "", "")],
    ["an edit cut short", (html: string) => html.replace(EDITS[2]?.html ?? "", (EDITS[2]?.html ?? "").slice(0, -20))],
    [
      "an edit put after the slot's element",
      (html: string) => html.replace(`>${EDITS[0]?.html ?? ""}`, `><p>old</p>${EDITS[0]?.html ?? ""}`),
    ],
  ])("notices %s", (_, spoil) => {
    expect(missingEdits(spoil(baselinePage))).toHaveLength(1);
  });

  it("agrees with the rewriter-only baseline: its page has the same three edits", () => {
    expect(missingEdits(baselinePage)).toEqual([]);
  });
});

describe.each(["Optimizely Edge Delivery", "GrowthBook edge app"])("%s", (name) => {
  const peer = (): Peer => {
    const found = prepared.peers.find((candidate) => candidate.name === name);
    if (found === undefined) throw new Error(`no peer named ${name}`);
    return found;
  };

  it("makes the three edits for each visitor with a cookie, reaching only the origin and local stand-ins", async () => {
    const worker = await start(name, peer().script, peer().bindings);
    expect(peer().cookies).toHaveLength(VISITORS);
    for (const cookie of peer().cookies) {
      const response = await worker.dispatchFetch("http://127.0.0.1/", { headers: { cookie, "user-agent": USER_AGENT } });
      const html = await response.text();
      expect(response.status).toBe(200);
      expect(missingEdits(html)).toEqual([]);
    }
    const hosts = new Set((outbound.get(name) ?? []).map((url) => new URL(url).host));
    expect(hosts.has(new URL(shop.url).host)).toBe(true);
    for (const host of hosts) expect(host).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("makes them through its own experiment mechanism: without the experiment the page is unchanged", async () => {
    // The same Worker with an experiment-free configuration serves the origin's slots as they are,
    // so the edits above came from the package applying the experiment, not from the Worker's code.
    const bindings =
      name === "Optimizely Edge Delivery"
        ? { ...peer().bindings, OPTIMIZELY_DATA: withoutExperiments(peer().bindings.OPTIMIZELY_DATA) }
        : { ...peer().bindings, GROWTHBOOK_CLIENT_KEY: "sdk-unknown" };
    const worker = await start(`${name} (no experiment)`, peer().script, bindings);
    const response = await worker.dispatchFetch("http://127.0.0.1/", {
      headers: { cookie: peer().cookies[0] ?? "", "user-agent": USER_AGENT },
    });
    expect(response.status).toBe(200);
    expect(missingEdits(await response.text())).toEqual(["hero", "banner", "recommendations"]);
  });
});

/** Optimizely's datafile with its experiments' layers taken out. */
function withoutExperiments(datafile: unknown): unknown {
  const copy = structuredClone(datafile) as { config: { layers: unknown[] }; queue: { undecidedExperiences: unknown[] } };
  copy.config.layers = [];
  copy.queue.undecidedExperiences = [];
  return copy;
}
