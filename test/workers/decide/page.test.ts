/**
 * The page path through the Worker, against the demo shop as origin: every slot action, the
 * serving rules (what passes through untouched), previews, bots, exposures and every fallback.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, inject, it, vi } from "vitest";
import { type DecisionBatchMessage, MAX_DECISIONS_PER_MESSAGE } from "../../../shared/feedback/messages.ts";
import { RULES_LIVE_KEY, rulesVersionKey } from "../../../shared/rules/document.ts";
import { signPreview } from "../../../workers/common/preview.ts";
import { forgetRules } from "../../../workers/common/rules-store.ts";
import { pseudonymFor } from "../../../workers/common/visitor.ts";
import { documentWith, ELECTRONICS_RULE } from "../../support/slot-documents.ts";
import {
  postEvents,
  publishRules,
  recordingAnalytics,
  recordingFeedbackQueue,
  request,
  track,
  visitorCookieFrom,
} from "../../support/worker/fixtures.ts";

const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36" };

async function origin(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${env.ORIGIN_URL}${path}`, init);
}

async function returningVisitor(category = "electronics"): Promise<string> {
  const posted = await postEvents(track("Product Viewed", { product_id: `${category.slice(0, 2)}-01`, category }));
  const cookie = visitorCookieFrom(posted);
  if (cookie === null) throw new Error("no cookie");
  return cookie;
}

beforeEach(async () => {
  await publishRules(documentWith());
});

describe("slot actions", () => {
  it("applies every action kind while the page streams through", async () => {
    const slots = {
      text: { selector: '[data-slot="hero"] h1' },
      html: { selector: '[data-slot="banner"]' },
      replace: { selector: "section.recommendations h2" },
      before: { selector: "footer.site .legal" },
      after: { selector: "form.search" },
      prepend: { selector: "main" },
      append: { selector: "footer.site .cols" },
      remove: { selector: ".review:nth-child(2)" },
      attribute: { selector: "a.logo" },
      unattribute: { selector: "nav.main" },
      classed: { selector: "header.site" },
      unclassed: { selector: '[data-slot="hero"]' },
      json: { selector: "body" },
    };
    await publishRules({
      version: 1,
      slots,
      rules: [
        {
          id: "everything",
          actions: {
            text: { type: "setText", text: "Deals <today> & tomorrow" },
            html: { type: "setHtml", html: "<strong>Free delivery</strong> this weekend" },
            replace: { type: "replace", html: "<h2 id='replaced'>Picked for you</h2>" },
            before: { type: "before", html: "<p id='before-legal'>Before</p>" },
            after: { type: "after", html: "<p id='after-search'>After</p>" },
            prepend: { type: "prepend", html: "<div id='prepended'></div>" },
            append: { type: "append", html: "<div id='appended'></div>" },
            remove: { type: "remove" },
            attribute: { type: "setAttribute", name: "href", value: "/?from=logo" },
            unattribute: { type: "removeAttribute", name: "aria-label" },
            classed: { type: "addClass", className: "personalized" },
            unclassed: { type: "removeClass", className: "hero" },
            json: { type: "injectJson", id: "tailor-data", data: { segment: "deal-seeker", note: "</script><script>alert(1)</script>" } },
          },
        },
      ],
    });
    const html = await (await request("/", { headers: BROWSER })).text();
    expect(html).toContain('<h1 data-p13n-rule="everything" data-p13n-slot="text">Deals &lt;today&gt; &amp; tomorrow</h1>');
    expect(html).toContain(
      'data-slot="banner" data-p13n-rule="everything" data-p13n-slot="html"><strong>Free delivery</strong> this weekend</div>',
    );
    expect(html).toContain("<h2 id='replaced'>Picked for you</h2>");
    expect(html).not.toContain("<h2>Bestsellers</h2>");
    expect(html).toMatch(/<p id='before-legal'>Before<\/p><p class="legal"/);
    expect(html).toMatch(/<\/form><p id='after-search'>After<\/p>/);
    expect(html).toMatch(/<main data-p13n-rule="everything" data-p13n-slot="prepend"><div id='prepended'><\/div>/);
    expect(html).toMatch(/<div id='appended'><\/div><\/div>\s*<p id='before-legal'>/);
    expect(html).not.toContain("Second order this month");
    expect(html).toContain('<a class="logo" href="/?from=logo" data-p13n-rule="everything" data-p13n-slot="attribute">');
    expect(html).toContain('<nav class="main" data-p13n-rule="everything" data-p13n-slot="unattribute">');
    expect(html).toContain('<header class="site personalized" data-p13n-rule="everything" data-p13n-slot="classed">');
    expect(html).toMatch(/<section class="" data-slot="hero" data-p13n-rule="everything" data-p13n-slot="unclassed">/);
    expect(html).toContain(
      '<script type="application/json" id="tailor-data">{"segment":"deal-seeker","note":"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"}</script></body>',
    );
    expect(html.trimEnd().endsWith("</html>")).toBe(true);
  });

  it("refuses a document whose HTML or URLs could run script, and keeps the last good one", async () => {
    const cookie = await returningVisitor();
    const refresh = { RULES_REFRESH_MS: "0" };
    expect(await (await request("/", { headers: { cookie } }, refresh)).text()).toContain("Electronics for you");
    const hostile = documentWith({
      version: 2,
      rules: [{ id: "xss", actions: { hero: { type: "setHtml", html: '<a href="javascript:alert(1)">x</a>' } } }],
    });
    await env.RULES.put(rulesVersionKey(2), JSON.stringify(hostile));
    await env.RULES.put(RULES_LIVE_KEY, JSON.stringify({ version: 2 }));
    for (let attempt = 0; attempt < 3; attempt++) await (await request("/", { headers: { cookie } }, refresh)).text();
    const html = await (await request("/", { headers: { cookie } }, refresh)).text();
    expect(html).toContain("Electronics for you");
    expect(html).not.toContain("javascript:");
  });
});

describe("marketer content cannot run script", () => {
  const ISSUE_VECTORS = [
    "<svg/onload=alert(1)>",
    "<details/open/ontoggle=alert(1)>",
    '<img src="x>" onerror=alert(1)>',
    '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;">',
    '<a href="jav&#x61;script:alert(1)">x</a>',
  ];

  it("refuses at load a document written straight into KV with any of the issue's vectors, and keeps serving the last good one", async () => {
    const cookie = await returningVisitor();
    const refresh = { RULES_REFRESH_MS: "0" };
    expect(await (await request("/", { headers: { cookie } }, refresh)).text()).toContain("Electronics for you");
    for (const [index, html] of ISSUE_VECTORS.entries()) {
      const version = index + 2;
      const hostile = documentWith({ version, rules: [{ id: "xss", actions: { hero: { type: "setHtml", html } } }] });
      await env.RULES.put(rulesVersionKey(version), JSON.stringify(hostile));
      await env.RULES.put(RULES_LIVE_KEY, JSON.stringify({ version }));
      for (let attempt = 0; attempt < 3; attempt++) await (await request("/", { headers: { cookie } }, refresh)).text();
      const page = await (await request("/", { headers: { cookie } }, refresh)).text();
      expect([html, page.includes("Electronics for you"), page.includes("alert(1)")]).toEqual([html, true, false]);
    }
  });

  it("renders recommendation cards from hostile model items escaped, with unsafe URLs as #", async () => {
    await publishRules(
      documentWith({
        slots: { recommendations: { selector: '[data-slot="recommendations"]' } },
        models: {
          related: {
            type: "itemToItem",
            related: {},
            fallback: ["x1"],
            items: {
              x1: { name: '"><img src=x onerror=alert(1)>', url: '/p/x1?"onmouseover=alert(1)', category: "javascript:alert(1)" },
            },
          },
        },
        rules: [
          {
            id: "recs",
            actions: {
              recommendations: {
                type: "recommendations",
                model: "related",
                template: '<a class="card" href="{{url}}" title="{{name}}">{{name}}</a><a class="cat" href="{{category}}">more</a>',
              },
            },
          },
        ],
      }),
    );
    const html = await (await request("/", { headers: BROWSER })).text();
    expect(html).toContain(
      '<a class="card" href="/p/x1?&#34;onmouseover=alert(1)" title="&#34;&#62;&#60;img src=x onerror=alert(1)&#62;">&#34;&#62;&#60;img src=x onerror=alert(1)&#62;</a><a class="cat" href="#">more</a>',
    );
    expect(html).not.toContain("<img src=x");
    expect(html).not.toContain('href="javascript:');
  });
});

describe("serving rules", () => {
  it("passes pages no rule targets through byte for byte, headers included", async () => {
    const viaTailor = await request("/p/el-01", { headers: BROWSER });
    const direct = await origin("/p/el-01");
    expect(await viaTailor.text()).toBe(await direct.text());
    expect(viaTailor.headers.get("cache-control")).toBe(direct.headers.get("cache-control"));
    expect(viaTailor.headers.get("set-cookie")).toBeNull();
  });

  it("passes origin errors, HEAD, POST and assets through unchanged on targeted paths", async () => {
    await publishRules(documentWith({ rules: [{ ...ELECTRONICS_RULE, pages: ["/", "/missing", "/static/*"] }] }));
    const missing = await request("/missing", { headers: BROWSER });
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe(await (await origin("/missing")).text());
    expect(missing.headers.get("set-cookie")).toBeNull();

    // Not personalized, but other visitors of "/" get personalized pages: kept out of shared caches (caching.test.ts).
    const head = await request("/", { method: "HEAD", headers: BROWSER });
    expect(head.headers.get("cache-control")).toBe("private, no-cache");
    expect(head.headers.get("set-cookie")).toBeNull();

    const css = await request("/static/shop.css", { headers: BROWSER });
    expect(await css.text()).toBe(await (await origin("/static/shop.css")).text());
    expect(css.headers.get("cache-control")).toBe("public, max-age=86400");

    const posted = await request("/", { method: "POST", headers: { ...BROWSER, "content-type": "text/plain" }, body: "hello" });
    expect(await posted.text()).toBe(await (await origin("/", { method: "POST", body: "hello" })).text());
  });

  it("forwards requests to the origin without Tailor's visitor cookie or preview token", async () => {
    interface Echo {
      method: string;
      url: string;
      headers: Record<string, string | undefined>;
      body: string;
    }
    const echoOrigin = { ORIGIN_URL: inject("echoOriginUrl") };
    const seen = async (path: string, init: RequestInit) => (await (await request(path, init, echoOrigin)).json()) as Echo;
    const visitor = "tailor_vid=AAAAAAAAAAAAAAAAAAAAAA";

    const page = await seen("/?sort=price&tailor_preview=not-a-token", {
      headers: { ...BROWSER, cookie: `theme=dark; ${visitor}; consent=yes`, "accept-language": "de" },
    });
    expect(page.url).toBe("/?sort=price");
    expect(page.headers.cookie).toBe("theme=dark; consent=yes");
    expect(page.headers["accept-language"]).toBe("de");
    expect(page.headers["user-agent"]).toBe(BROWSER["user-agent"]);

    const onlyOurs = await seen("/?q=red%20shoes&tag=a+b", { headers: { ...BROWSER, cookie: visitor } });
    expect(onlyOurs.url).toBe("/?q=red%20shoes&tag=a+b"); // the query exactly as sent, not re-encoded
    expect(onlyOurs.headers.cookie).toBeUndefined();

    const form = await seen("/basket/add?item=el-01", { method: "POST", headers: { cookie: visitor }, body: "quantity=2" });
    expect(form).toMatchObject({ method: "POST", url: "/basket/add?item=el-01", body: "quantity=2" });
    expect(form.headers.cookie).toBeUndefined();
  });

  it("marks personalized responses private, varying by cookie, with stage timings", async () => {
    const cookie = await returningVisitor();
    // The events' answer loaded the rules into this isolate; the page is to show loading them too.
    forgetRules();
    const response = await request("/", { headers: { ...BROWSER, cookie } });
    expect(await response.text()).toContain("Electronics for you");
    expect(response.headers.get("cache-control")).toBe("private, no-cache");
    expect(response.headers.get("vary")).toMatch(/Cookie/);
    expect(response.headers.get("etag")).toBeNull();
    expect(response.headers.get("server-timing")).toMatch(/rules;dur=[\d.]+.*profile;dur=[\d.]+.*decide;dur=[\d.]+/);
  });

  it("gives bots and prefetches the default page, with no cookie and no exposure", async () => {
    const cookie = await returningVisitor();
    for (const headers of [
      { "user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)" },
      { ...BROWSER, "sec-purpose": "prefetch" },
    ]) {
      const feedback = recordingFeedbackQueue();
      const response = await request("/", { headers: { ...headers, cookie } }, { FEEDBACK_QUEUE: feedback.queue });
      expect(await response.text()).toBe(await (await origin("/")).text());
      expect(response.headers.get("set-cookie")).toBeNull();
      expect(feedback.sent).toEqual([]);
    }
  });

  it("redirects and sets x-* headers when a matching rule says so", async () => {
    await publishRules(
      documentWith({
        rules: [
          {
            id: "old-sale",
            pages: ["/c/home"],
            condition: { "utm.campaign": "autumn" },
            page: { redirect: { to: "/c/outdoor", status: 307 }, headers: { "x-campaign": "autumn" } },
          },
        ],
      }),
    );
    const redirected = await request("/c/home?utm_campaign=autumn", { headers: BROWSER });
    expect(redirected.status).toBe(307);
    expect(redirected.headers.get("location")).toBe("/c/outdoor");
    expect(redirected.headers.get("x-campaign")).toBe("autumn");
    expect((await request("/c/home", { headers: BROWSER })).status).toBe(200);
  });
});

describe("exposures", () => {
  const twoRules = () =>
    publishRules(
      documentWith({
        rules: [ELECTRONICS_RULE, { id: "banner-all", actions: { banner: { type: "setText", text: "Hello" } } }],
      }),
    );

  it("logs every slot assignment of a decision once, under the visitor's pseudonym, decisions close together in one message", async () => {
    await twoRules();
    const cookie = await returningVisitor();
    const feedback = recordingFeedbackQueue();
    // The batch window is driven: both views fall inside it however slow the machine is.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      for (let view = 0; view < 2; view++) {
        await (
          await request("/", { headers: { ...BROWSER, cookie } }, { FEEDBACK_QUEUE: feedback.queue, EXPOSURE_BATCH_MS: "300" })
        ).text();
      }
      expect(feedback.sent).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(300);
    } finally {
      vi.useRealTimers();
    }
    await vi.waitFor(() => expect(feedback.sent).toHaveLength(1), { timeout: 30_000 });
    const [message] = feedback.sent[0] as DecisionBatchMessage[];
    expect(message?.kind).toBe("decisions");
    expect(message?.decisions).toHaveLength(2);
    const [first, second] = message?.decisions ?? [];
    expect(first?.assignments.map((assignment) => [assignment.ruleId, assignment.slot])).toEqual([
      ["electronics-hero", "hero"],
      ["banner-all", "banner"],
    ]);
    expect(first?.visitor).toBe(await pseudonymFor(cookie.split("=")[1] ?? "", env.VISITOR_ID_SECRET));
    // Each page view is a decision with its own id.
    expect(second?.id).not.toBe(first?.id);
    expect(feedback.sent).toHaveLength(1);
  });

  it("sends a full batch at once, and each decision alone when batching is off", async () => {
    await twoRules();
    const cookie = await returningVisitor();
    const feedback = recordingFeedbackQueue();
    const views = MAX_DECISIONS_PER_MESSAGE + 6;
    // The batch window is driven, not waited for: it cannot close while a slow machine is still
    // making the pages, and closes when the test says so.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      await Promise.all(
        Array.from({ length: views }, async () =>
          (await request("/", { headers: { ...BROWSER, cookie } }, { FEEDBACK_QUEUE: feedback.queue, EXPOSURE_BATCH_MS: "1000" })).text(),
        ),
      );
      expect(feedback.sent.map((batch) => (batch as DecisionBatchMessage[])[0]?.decisions.length)).toEqual([MAX_DECISIONS_PER_MESSAGE]);
      await vi.advanceTimersByTimeAsync(1_000);
    } finally {
      vi.useRealTimers();
    }
    await vi.waitFor(() => expect(feedback.sent).toHaveLength(2), { timeout: 30_000 });
    expect((feedback.sent[1] as DecisionBatchMessage[])[0]?.decisions).toHaveLength(6);

    const unbatched = recordingFeedbackQueue();
    for (let view = 0; view < 2; view++) {
      await (await request("/", { headers: { ...BROWSER, cookie } }, { FEEDBACK_QUEUE: unbatched.queue, EXPOSURE_BATCH_MS: "0" })).text();
      expect(unbatched.sent).toHaveLength(view + 1);
    }
  });

  it("parks a batch the queue keeps refusing in the outbox, and reports it lost only when that fails too", async () => {
    await twoRules();
    const cookie = await returningVisitor();
    const refusing = { send: () => Promise.reject(new Error("queue unavailable")) } as unknown as Queue;
    const parked = vi.fn((message: DecisionBatchMessage) => message.decisions.length);
    const outbox = (park: (message: DecisionBatchMessage) => Promise<unknown>) =>
      ({ getByName: () => ({ park }), jurisdiction: () => outbox(park) }) as unknown as Env["EXPOSURE_OUTBOX"];
    const cases = [
      { binding: outbox(async (message) => parked(message)), lost: 0 },
      { binding: outbox(() => Promise.reject(new Error("outbox unavailable"))), lost: 3 },
    ];
    for (const { binding, lost } of cases) {
      const analytics = recordingAnalytics();
      parked.mockClear();
      for (let view = 0; view < 3; view++) {
        const response = await request(
          "/",
          { headers: { ...BROWSER, cookie } },
          { FEEDBACK_QUEUE: refusing, EXPOSURE_OUTBOX: binding, ANALYTICS: analytics.dataset, EXPOSURE_BATCH_MS: "200" },
        );
        // The page never waits for the queue, the retries or the outbox.
        expect(await response.text()).toContain("Hello");
      }
      if (lost === 0)
        await vi.waitFor(() => expect(parked.mock.results.reduce((sum, result) => sum + Number(result.value), 0)).toBe(3), {
          timeout: 30_000,
        });
      else
        await vi.waitFor(
          () => expect(analytics.points.filter((point) => point.blobs?.includes("exposure-queue-failed"))).toHaveLength(lost),
          {
            timeout: 30_000,
          },
        );
      expect(analytics.points.filter((point) => point.blobs?.includes("exposure-queue-failed"))).toHaveLength(lost);
    }
  });

  it("parks refused exposures in the outbox of the deployment's jurisdiction", async () => {
    await twoRules();
    const cookie = await returningVisitor();
    const refusing = { send: () => Promise.reject(new Error("queue unavailable")) } as unknown as Queue;
    const jurisdictions: string[] = [];
    const parked: DecisionBatchMessage[] = [];
    const stub = { park: async (message: DecisionBatchMessage) => void parked.push(message) };
    const binding = {
      getByName: () => stub,
      jurisdiction: (name: string) => {
        jurisdictions.push(name);
        return { getByName: () => stub };
      },
    } as unknown as Env["EXPOSURE_OUTBOX"];
    // workerd has no jurisdictions: the other objects stand in for their EU selves (test/workers/common/placement.test.ts).
    const asEu = (real: DurableObjectNamespace) =>
      new Proxy(real, { get: (target, property) => (property === "jurisdiction" ? () => target : Reflect.get(target, property, target)) });
    const others = Object.fromEntries(
      (["USER_SESSION", "EXPERIMENT_STATS", "DEAD_LETTERS", "RULES_REGISTRY", "EXPOSURE_MEMORY"] as const).map((name) => [
        name,
        asEu(env[name] as DurableObjectNamespace),
      ]),
    ) as Partial<Env>;
    const response = await request(
      "/",
      { headers: { ...BROWSER, cookie } },
      { ...others, FEEDBACK_QUEUE: refusing, EXPOSURE_OUTBOX: binding, DATA_JURISDICTION: "eu", EXPOSURE_BATCH_MS: "0" },
    );
    expect(await response.text()).toContain("Hello");
    await vi.waitFor(() => expect(parked).toHaveLength(1), { timeout: 30_000 });
    expect(jurisdictions).toEqual(["eu"]);
  });
});

describe("previews", () => {
  const experiment = documentWith({
    experiments: { hero_test: { variants: ["control", "bold"] } },
    rules: [
      {
        id: "hero-test",
        experiment: { id: "hero_test", variants: { control: {}, bold: { hero: { type: "setText", text: "BOLD HERO" } } } },
      },
    ],
  });

  it("forces a variant with a signed token, is never cached and logs no exposure", async () => {
    await publishRules(experiment);
    const token = await signPreview({ forced: { hero_test: "bold" }, exp: Math.floor(Date.now() / 1000) + 600 }, env.VISITOR_ID_SECRET);
    for (let attempt = 0; attempt < 5; attempt++) {
      const feedback = recordingFeedbackQueue();
      const response = await request(
        `/?tailor_preview=${encodeURIComponent(token)}`,
        { headers: BROWSER },
        { FEEDBACK_QUEUE: feedback.queue },
      );
      const html = await response.text();
      expect(html).toContain('data-p13n-variant="bold">BOLD HERO');
      expect(response.headers.get("cache-control")).toBe("private, no-store");
      expect(feedback.sent).toEqual([]);
    }
  });

  it("ignores forged and expired tokens", async () => {
    await publishRules(experiment);
    const forged = await signPreview(
      { forced: { hero_test: "bold" }, exp: Math.floor(Date.now() / 1000) + 600 },
      "not-the-real-secret-000000000000000",
    );
    const expired = await signPreview({ forced: { hero_test: "bold" }, exp: Math.floor(Date.now() / 1000) - 1 }, env.VISITOR_ID_SECRET);
    for (const token of [forged, expired]) {
      const response = await request(`/?tailor_preview=${encodeURIComponent(token)}`, { headers: BROWSER });
      expect(response.headers.get("cache-control")).toBe("private, no-cache");
    }
  });
});

describe("fallbacks", () => {
  /** The real binding, except that this visitor's profile read misbehaves as `readProfile` says. */
  async function faultySessions(cookie: string, readProfile: () => Promise<unknown>): Promise<Partial<Env>> {
    const pseudonym = await pseudonymFor(cookie.split("=")[1] ?? "", env.VISITOR_ID_SECRET);
    const target = env.USER_SESSION.idFromName(pseudonym);
    const sessions = {
      idFromName: (name: string) => env.USER_SESSION.idFromName(name),
      get: (id: DurableObjectId) => (id.equals(target) ? { readProfile } : env.USER_SESSION.get(id)),
      getByName: (name: string) => (name === pseudonym ? { readProfile } : env.USER_SESSION.getByName(name)),
    } as unknown as Env["USER_SESSION"];
    return { USER_SESSION: sessions };
  }

  it("serves the page without the profile when the Durable Object is slow", async () => {
    const cookie = await returningVisitor();
    // Would personalize if it answered in time: the default hero shows the deadline cut it off.
    const slow = await faultySessions(
      cookie,
      () => new Promise((resolve) => setTimeout(() => resolve({ "behavior.views_10m.category.electronics": 9 }), 1_000)),
    );
    const response = await request("/", { headers: { ...BROWSER, cookie } }, { ...slow, PROFILE_DEADLINE_MS: "30" });
    const html = await response.text();
    expect(response.status).toBe(200);
    expect(html).toContain("Autumn essentials");
    expect(response.headers.get("server-timing")).toContain('fallback;desc="profile"');
  });

  it("serves the page when the Durable Object never answers", async () => {
    const cookie = await returningVisitor();
    const hanging = await faultySessions(cookie, () => new Promise(() => {}));
    const response = await request("/", { headers: { ...BROWSER, cookie } }, { ...hanging, PROFILE_DEADLINE_MS: "30" });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("Autumn essentials");
    expect(response.headers.get("server-timing")).toContain('fallback;desc="profile"');
  });

  it("uses a profile that answers after the origin but within the deadline", async () => {
    const cookie = await returningVisitor("home");
    // The local origin answers in a few milliseconds; the profile comes well after it, well in time.
    const late = await faultySessions(
      cookie,
      () => new Promise((resolve) => setTimeout(() => resolve({ "behavior.views_10m.category.electronics": 9 }), 150)),
    );
    const response = await request("/", { headers: { ...BROWSER, cookie } }, { ...late, PROFILE_DEADLINE_MS: "5000" });
    const html = await response.text();
    expect(html).toContain("Electronics for you");
    expect(response.headers.get("server-timing")).not.toContain("fallback");
  });

  it("serves the page without the profile when the Durable Object throws", async () => {
    const cookie = await returningVisitor();
    const failing = await faultySessions(cookie, () => Promise.reject(new Error("storage on fire")));
    const response = await request("/", { headers: { ...BROWSER, cookie } }, failing);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("Autumn essentials");
    expect(response.headers.get("server-timing")).toContain('fallback;desc="profile"');
  });

  it("passes the page through untouched when no rules are published", async () => {
    await env.RULES.delete(RULES_LIVE_KEY);
    forgetRules();
    const cookie = await returningVisitor();
    const response = await request("/", { headers: { ...BROWSER, cookie } });
    expect(await response.text()).toBe(await (await origin("/")).text());
    expect(response.headers.get("cache-control")).toBe("public, max-age=60");
  });

  it("passes the page through when the only published document is invalid", async () => {
    await env.RULES.put(rulesVersionKey(7), JSON.stringify({ version: 7, slots: {}, rules: [{ id: "Bad Id" }] }));
    await env.RULES.put(RULES_LIVE_KEY, JSON.stringify({ version: 7 }));
    forgetRules();
    const response = await request("/", { headers: BROWSER });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(await (await origin("/")).text());
  });

  it("shows the default content when a referenced model is missing", async () => {
    await publishRules(
      documentWith({
        slots: { recommendations: { selector: '[data-slot="recommendations"]' } },
        models: { related: { kv: "models:related:missing" } },
        rules: [{ id: "recs", actions: { recommendations: { type: "recommendations", model: "related", template: "<p>{{name}}</p>" } } }],
      }),
    );
    const response = await request("/", { headers: BROWSER });
    const html = await response.text();
    expect(response.status).toBe(200);
    expect(html).toContain('<div class="grid" data-slot="recommendations">');
    expect(response.headers.get("server-timing")).toContain('fallback;desc="model-missing:related"');
  });
});

describe("GET /v1/decide", () => {
  it("returns the same decision the page gets, and the trace only with the admin token", async () => {
    const cookie = await returningVisitor();
    const response = await request("/v1/decide?path=/", { headers: { ...BROWSER, cookie } });
    const body = (await response.json()) as { slots: { slot: string; ruleId: string; action: unknown }[]; trace?: unknown };
    expect(body.slots).toEqual([
      expect.objectContaining({ slot: "hero", ruleId: "electronics-hero", action: { type: "setText", text: "Electronics for you" } }),
    ]);
    expect(body.trace).toBeUndefined();

    const forbidden = await request("/v1/decide?path=/&explain=1", { headers: { ...BROWSER, cookie } });
    expect(forbidden.status).toBe(403);

    const explained = await request("/v1/decide?path=/&explain=1", {
      headers: { ...BROWSER, cookie, authorization: `Bearer ${env.ADMIN_TOKEN}` },
    });
    const trace = (
      (await explained.json()) as {
        trace: { rules: { ruleId: string; outcome: string; reason: string }[]; attributes: Record<string, unknown> };
      }
    ).trace;
    expect(trace.rules).toEqual([{ ruleId: "electronics-hero", outcome: "applied", reason: "matched", slots: ["hero"] }]);
    expect(trace.attributes).toEqual({ "behavior.views_10m.category.electronics": 1 });

    expect((await request("/v1/decide?path=nope", { headers: BROWSER })).status).toBe(400);
  });
});
