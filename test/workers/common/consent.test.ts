/**
 * Consent-required mode: until the site's consent cookie says yes, no visitor cookie is set on any
 * path (pages, the decision API, events), nothing is stored, and the page is still served.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { publishRules, request, track, visitorCookieFrom } from "../../support/worker/fixtures.ts";

const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36" };
const REQUIRED = { CONSENT_MODE: "required" } as Partial<Env>;

beforeAll(async () => {
  await publishRules();
});

/** Every way a visitor reaches Tailor, each with the cookies given. */
function visit(cookie: string | undefined, overrides: Partial<Env>): Promise<Response>[] {
  const cookies: Record<string, string> = cookie === undefined ? {} : { cookie };
  return [
    request("/", { headers: { ...BROWSER, ...cookies } }, overrides),
    request("/v1/decide?path=/", { headers: { ...BROWSER, ...cookies } }, overrides),
    request(
      "/v1/events",
      {
        method: "POST",
        headers: { ...BROWSER, ...cookies, "content-type": "application/json" },
        body: JSON.stringify(track("Product Viewed", { category: "home" })),
      },
      overrides,
    ),
  ];
}

/** Cookie headers that do not say the visitor consented. */
const NOT_CONSENT = [
  ["no cookie at all", undefined],
  ["consent refused", "tailor_consent=0"],
  ["consent false", "tailor_consent=false"],
  ["empty consent", "tailor_consent="],
  ["some other word", "tailor_consent=yes-please-track-me-not"],
  ["a look-alike name", "tailor_consent_x=1"],
  ["a prefix of the name", "tailor_consen=1"],
  ["another site's cookie only", "other=1; session=abc"],
] as const;

describe("CONSENT_MODE = required", () => {
  it.each(NOT_CONSENT)("%s: no visitor cookie anywhere, nothing stored, the page served", async (_, cookie) => {
    const [page, decision, events] = await Promise.all(visit(cookie, REQUIRED));
    for (const response of [page, decision, events]) expect(visitorCookieFrom(response as Response)).toBeNull();
    expect(page?.status).toBe(200);
    expect(await page?.text()).toContain("<html");
    expect(decision?.status).toBe(200);
    expect(events?.status).toBe(202);
    expect(await events?.json()).toMatchObject({ accepted: 0, ignored: 1, reason: "consent-missing" });
  });

  it.each([["1"], ["true"], ["TRUE"], [" 1 "]])("consent cookie %j: the visitor is tracked and gets the cookie", async (value) => {
    const [page, , events] = await Promise.all(visit(`tailor_consent=${encodeURIComponent(value)}`, REQUIRED));
    expect(visitorCookieFrom(page as Response)).not.toBeNull();
    expect(visitorCookieFrom(events as Response)).not.toBeNull();
    expect(await events?.json()).toMatchObject({ accepted: 1 });
  });

  it("a returning visitor who withdrew consent is no longer recorded", async () => {
    const first = await request(
      "/v1/events",
      {
        method: "POST",
        headers: { cookie: "tailor_consent=1", "content-type": "application/json" },
        body: JSON.stringify(track("Product Viewed")),
      },
      REQUIRED,
    );
    const visitor = visitorCookieFrom(first);
    expect(visitor).not.toBeNull();
    const later = await request(
      "/v1/events",
      {
        method: "POST",
        headers: { cookie: `${visitor}; tailor_consent=0`, "content-type": "application/json" },
        body: JSON.stringify(track("Product Viewed")),
      },
      REQUIRED,
    );
    expect(await later.json()).toMatchObject({ accepted: 0, reason: "consent-missing" });
  });

  it("reads the cookie the deployment names (CONSENT_COOKIE)", async () => {
    const named = { ...REQUIRED, CONSENT_COOKIE: "cmp_ok" } as Partial<Env>;
    const [, , ours] = await Promise.all(visit("tailor_consent=1", named));
    expect(visitorCookieFrom(ours as Response)).toBeNull();
    const [, , theirs] = await Promise.all(visit("cmp_ok=1", named));
    expect(visitorCookieFrom(theirs as Response)).not.toBeNull();
  });
});

describe("CONSENT_MODE = implied (the default)", () => {
  it("sets the visitor cookie on the first tracked request, with no consent cookie", async () => {
    const [page, , events] = await Promise.all(visit(undefined, {}));
    expect(visitorCookieFrom(page as Response)).not.toBeNull();
    expect(visitorCookieFrom(events as Response)).not.toBeNull();
  });
});
