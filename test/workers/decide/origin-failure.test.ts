/**
 * The origin failing is not Tailor failing: an origin that refuses connections, answers bytes that
 * are not HTTP, or never answers gives the visitor a prompt 502/504 (a short page, or a problem for
 * JSON clients), counted in Analytics Engine; never a hang, never a 500 from Tailor.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, inject, it } from "vitest";
import worker from "../../../workers/index.ts";
import { publishRules, recordingAnalytics, withInProcessAdmin } from "../../support/worker/fixtures.ts";

const BROWSER = {
  "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36",
  accept: "text/html,application/xhtml+xml,*/*;q=0.8",
};

const ORIGINS = [
  { kind: "refusing connections", url: () => inject("refusedOriginUrl"), status: 502, reason: "origin-unavailable" },
  { kind: "answering garbage", url: () => inject("garbageOriginUrl"), status: 502, reason: "origin-unavailable" },
  { kind: "never answering", url: () => inject("hangingOriginUrl"), status: 504, reason: "origin-timeout" },
  { kind: "not a URL at all", url: () => "not a url", status: 502, reason: "origin-unavailable" },
];

/** Pages rules target (personalized path), pages they do not, and other methods (pass-through). */
const REQUESTS: { path: string; method: string }[] = [
  { path: "/", method: "GET" },
  { path: "/c/shoes?page=2", method: "GET" },
  { path: "/static/app.js", method: "GET" },
  { path: "/basket/add", method: "POST" },
  { path: "/", method: "HEAD" },
];

function send(origin: string, path: string, init: RequestInit, analytics?: AnalyticsEngineDataset): Promise<Response> {
  return Promise.resolve(
    worker.fetch(
      new Request(`http://shop.test${path}`, init),
      // The admin preview runs in the admin Worker: it gets the same origin settings in-process.
      withInProcessAdmin({
        ...env,
        ORIGIN_URL: origin,
        ORIGIN_TIMEOUT_MS: "300",
        ...(analytics === undefined ? {} : { ANALYTICS: analytics }),
      }),
      createExecutionContext(),
    ),
  );
}

beforeAll(async () => {
  await publishRules({
    version: 1,
    slots: { hero: { selector: '[data-slot="hero"]' } },
    rules: [{ id: "hero", pages: ["/", "/c/*"], actions: { hero: { type: "setText", text: "Hi" } } }],
  });
});

describe.each(ORIGINS)("an origin $kind", ({ url, status, reason }) => {
  it(`gives browsers a short ${status} page and counts it`, async () => {
    for (const { path, method } of REQUESTS) {
      const { dataset, points } = recordingAnalytics();
      const response = await send(url(), path, { method, headers: BROWSER, ...(method === "POST" ? { body: "q=1" } : {}) }, dataset);
      expect(response.status, `${method} ${path}`).toBe(status);
      expect(response.headers.get("content-type"), `${method} ${path}`).toMatch(/^text\/html/);
      expect(response.headers.get("cache-control")).toBe("no-store");
      if (method !== "HEAD") expect(await response.text(), `${method} ${path}`).toMatch(/<h1>The shop/);
      expect(
        points.some((point) => point.blobs?.[0] === "fallback" && point.blobs[1] === reason),
        `${method} ${path}`,
      ).toBe(true);
    }
  });

  it(`gives JSON clients a ${status} problem`, async () => {
    for (const accept of ["application/json", "application/problem+json", "application/json, */*"]) {
      const response = await send(url(), "/api/cart", { headers: { accept } });
      expect(response.status, accept).toBe(status);
      expect(response.headers.get("content-type"), accept).toBe("application/problem+json");
      expect(await response.json()).toMatchObject({ status, type: `/problems/${reason}` });
    }
  });
});

/** How a body read ended: all of it, or an error (a cut-off stream). Never a hang: the test timeout guards that. */
async function readToEnd(response: Response): Promise<"complete" | "cut off"> {
  try {
    await response.text();
    return "complete";
  } catch {
    return "cut off";
  }
}

describe("an origin that stalls in the middle of the body", () => {
  const requests: { path: string; method: string; what: string }[] = [
    { path: "/", method: "GET", what: "personalized page" },
    { path: "/c/shoes?page=2", method: "GET", what: "personalized page with a query" },
    { path: "/about", method: "GET", what: "page no rule targets" },
    { path: "/static/app.js?type=application/javascript", method: "GET", what: "pass-through asset" },
    { path: "/basket/add", method: "POST", what: "pass-through POST" },
  ];

  it.each(requests)("ends the $what by the deadline instead of leaving the visitor waiting", async ({ path, method }) => {
    const response = await send(inject("stallingOriginUrl"), path, {
      method,
      headers: BROWSER,
      ...(method === "POST" ? { body: "q=1" } : {}),
    });
    // The headers came in time, so the visitor gets the start of the page; the rest never comes, and the body ends.
    expect(response.status).toBe(200);
    expect(["complete", "cut off"]).toContain(await readToEnd(response));
  });
});

describe("the admin preview", () => {
  function preview(origin: string, path: string): Promise<Response> {
    return send(origin, "/admin/api/preview", {
      method: "POST",
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ path, visitor: {} }),
    });
  }

  async function strayHits(): Promise<number> {
    return ((await (await fetch(`${inject("strayHostUrl")}/_stray/hits`)).json()) as { hits: number }).hits;
  }

  it.each([301, 302, 303, 307, 308])("contacts only the origin when it redirects elsewhere (%i)", async (status) => {
    const before = await strayHits();
    const response = await preview(inject("stallingOriginUrl"), `/away?status=${status}`);
    expect(response.status).toBe(200);
    expect(await strayHits()).toBe(before);
    const body = (await response.json()) as { html: string | null; htmlNote?: string };
    expect(body.html).toBeNull();
    expect(body.htmlNote).toMatch(/redirect/i);
  });

  it("answers without the page when the origin stalls in the middle of the body", async () => {
    for (const path of ["/", "/c/shoes", "/about"]) {
      const response = await preview(inject("stallingOriginUrl"), path);
      expect(response.status, path).toBe(200);
      expect(await response.json(), path).toMatchObject({ html: null });
    }
  });

  it("answers without the page when the origin never answers", async () => {
    const response = await send(inject("hangingOriginUrl"), "/admin/api/preview", {
      method: "POST",
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ path: "/", visitor: {} }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ html: null });
  });
});
