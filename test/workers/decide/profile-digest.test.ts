/**
 * Pages that decide without calling the visitor's object: a browser keeps the signed profile digest
 * the way a real one keeps cookies, and the object's profile reads are counted through a wrapper
 * around the real binding. Whatever the cookie says, the decision must be the one a read gives.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, inject, it } from "vitest";
import { sealDigest } from "../../../workers/common/profile-digest.ts";
import { pseudonymFor } from "../../../workers/common/visitor.ts";
import { documentWith } from "../../support/slot-documents.ts";
import { identify, identityProof, postEvents, publishRules, request, track } from "../../support/worker/fixtures.ts";

const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36" };
const PERSONALIZED = "Electronics for you";
const DEFAULT_HERO = "Autumn essentials";

/** A browser's cookie jar for Tailor's host: keeps what responses set, drops what they expire. */
class Browser {
  readonly cookies = new Map<string, string>();

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  keep(response: Response): Response {
    for (const line of response.headers.getAll("set-cookie")) {
      const [pair = "", ...attributes] = line.split(";");
      const equals = pair.indexOf("=");
      const name = pair.slice(0, equals).trim();
      const expired = attributes.some((attribute: string) => /^\s*max-age=0\s*$/i.test(attribute));
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(equals + 1));
    }
    return response;
  }

  async page(overrides: Partial<Env> = {}): Promise<string> {
    const cookie = this.header();
    const response = await request("/", { headers: { ...BROWSER, ...(cookie === "" ? {} : { cookie }) } }, overrides);
    expect(response.status).toBe(200);
    return this.keep(response).text();
  }

  async events(...batch: Record<string, unknown>[]): Promise<Response> {
    const cookie = this.header();
    const response = this.keep(await postEvents({ batch }, cookie === "" ? undefined : cookie));
    expect(response.status).toBe(202);
    return response;
  }
}

/** The real visitor objects, with every `readProfile` call counted. */
function countingSessions(): { overrides: Partial<Env>; reads: () => number } {
  let reads = 0;
  const counted = (stub: DurableObjectStub) =>
    new Proxy(stub, {
      get(target, property) {
        const value = Reflect.get(target, property);
        if (property === "readProfile" && typeof value === "function") {
          return (...args: unknown[]) => {
            reads++;
            return Reflect.apply(value, target, args);
          };
        }
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  const sessions = {
    idFromName: (name: string) => env.USER_SESSION.idFromName(name),
    get: (id: DurableObjectId) => counted(env.USER_SESSION.get(id)),
    getByName: (name: string) => counted(env.USER_SESSION.getByName(name)),
    jurisdiction: () => sessions,
  };
  return { overrides: { USER_SESSION: sessions as unknown as Env["USER_SESSION"] }, reads: () => reads };
}

const electronicsView = () => track("Product Viewed", { product_id: "el-01", category: "electronics" });

async function pseudonymOf(browser: Browser): Promise<string> {
  return pseudonymFor(browser.cookies.get("tailor_vid") ?? "", env.VISITOR_ID_SECRET);
}

beforeEach(async () => {
  await publishRules(documentWith());
});

describe("pages without a call to the visitor's object", () => {
  it("a visitor without state (first page, no events since) is decided with no call, as a read would", async () => {
    const browser = new Browser();
    expect(await browser.page()).toContain(DEFAULT_HERO);
    expect(browser.cookies.has("tailor_pd")).toBe(true);

    const counting = countingSessions();
    const html = await browser.page(counting.overrides);
    expect(counting.reads()).toBe(0);
    // The same visitor without the digest: a read, and the same page.
    const read = countingSessions();
    const withoutDigest = await request(
      "/",
      { headers: { ...BROWSER, cookie: `tailor_vid=${browser.cookies.get("tailor_vid")}` } },
      read.overrides,
    );
    expect(read.reads()).toBe(1);
    expect(html).toBe(await withoutDigest.text());
  });

  it("after an event the next page is personalized from the digest the events' answer set, with no call", async () => {
    const browser = new Browser();
    await browser.page();
    const stateless = browser.cookies.get("tailor_pd");
    await browser.events(electronicsView());
    expect(browser.cookies.get("tailor_pd")).not.toBe(stateless);

    const counting = countingSessions();
    expect(await browser.page(counting.overrides)).toContain(PERSONALIZED);
    expect(counting.reads()).toBe(0);
  });

  it("a visitor whose first contact is an event gets the digest with their cookie", async () => {
    const browser = new Browser();
    await browser.events(electronicsView());
    expect([...browser.cookies.keys()].sort()).toEqual(["tailor_pd", "tailor_vid"]);
    const counting = countingSessions();
    expect(await browser.page(counting.overrides)).toContain(PERSONALIZED);
    expect(counting.reads()).toBe(0);
  });

  it("rules that read nothing from the profile make no call, whatever the visitor has", async () => {
    await publishRules(
      documentWith({ rules: [{ id: "everyone", priority: 10, actions: { hero: { type: "setText", text: "Hello, everyone" } } }] }),
    );
    const browser = new Browser();
    await browser.events(electronicsView());
    browser.cookies.delete("tailor_pd");
    const counting = countingSessions();
    expect(await browser.page(counting.overrides)).toContain("Hello, everyone");
    expect(counting.reads()).toBe(0);
  });

  it("rules that read something the digest does not cover make the page read (rules changed since the events)", async () => {
    const browser = new Browser();
    await browser.events(electronicsView(), track("Product Added", { product_id: "el-01", category: "electronics", price: 20 }));
    await publishRules(
      documentWith({
        version: 2,
        rules: [
          {
            id: "basket",
            priority: 10,
            condition: { "cart.items": { $gte: 1 } },
            actions: { hero: { type: "setText", text: "Your basket" } },
          },
        ],
      }),
      2,
    );
    const counting = countingSessions();
    expect(await browser.page(counting.overrides)).toContain("Your basket");
    expect(counting.reads()).toBe(1);
  });
});

describe("a digest that cannot be trusted is a normal read", () => {
  /** Digest cookie values that must not be used for the visitor `victim` (who has state). */
  const variants: [string, (victim: Browser, stranger: Browser) => Promise<string>][] = [
    ["the payload altered", async (victim) => alter(victim.cookies.get("tailor_pd") ?? "", 3)],
    ["the signature altered", async (victim) => alter(victim.cookies.get("tailor_pd") ?? "", -3)],
    ["the signature removed", async (victim) => (victim.cookies.get("tailor_pd") ?? "").split(".")[0] ?? ""],
    ["another visitor's valid digest (replayed)", async (_, stranger) => stranger.cookies.get("tailor_pd") ?? ""],
    [
      "an empty profile signed with another secret",
      async (victim) => seal({ v: 1, e: Date.now() + 600_000, n: 1 }, await pseudonymOf(victim), "x".repeat(40)),
    ],
    [
      "an empty profile that has expired",
      async (victim) => seal({ v: 1, e: Date.now() - 1, n: 1 }, await pseudonymOf(victim), env.VISITOR_ID_SECRET),
    ],
    [
      "an empty profile of another layout version",
      async (victim) => seal({ v: 2, e: Date.now() + 600_000, n: 1 }, await pseudonymOf(victim), env.VISITOR_ID_SECRET),
    ],
    [
      "a digest that does not cover what the rules read",
      async (victim) =>
        seal({ v: 1, e: Date.now() + 600_000, a: ["cart.items"], s: { cart: {} } }, await pseudonymOf(victim), env.VISITOR_ID_SECRET),
    ],
    ["not base64", async () => "%%%.%%%"],
    ["JSON that is not a digest, unsigned", async () => `${btoa("null")}.`],
    ["far too long", async () => "a".repeat(5_000)],
  ];

  it.each(variants)("%s", async (_, forge) => {
    const victim = new Browser();
    await victim.events(electronicsView());
    const stranger = new Browser();
    await stranger.page();

    const value = await forge(victim, stranger);
    const counting = countingSessions();
    const response = await request(
      "/",
      { headers: { ...BROWSER, cookie: `tailor_vid=${victim.cookies.get("tailor_vid")}; tailor_pd=${value}` } },
      counting.overrides,
    );
    expect(response.status).toBe(200);
    expect(await response.text()).toContain(PERSONALIZED);
    expect(counting.reads()).toBe(1);
  });
});

describe("the events' answer keeps the digest current", () => {
  it("removes the digest when the browser is linked to a user (whose other devices change the profile)", async () => {
    const browser = new Browser();
    await browser.events(electronicsView());
    expect(browser.cookies.has("tailor_pd")).toBe(true);
    const userId = `digest-user-${crypto.randomUUID()}`;
    await browser.events(identify(userId, { proof: await identityProof(userId) }));
    expect(browser.cookies.has("tailor_pd")).toBe(false);
    const counting = countingSessions();
    expect(await browser.page(counting.overrides)).toContain(PERSONALIZED);
    expect(counting.reads()).toBe(1);
  });

  it("erasing the profile removes the digest with the visitor cookie", async () => {
    const browser = new Browser();
    await browser.events(electronicsView());
    browser.keep(await request("/v1/profile", { method: "DELETE", headers: { cookie: browser.header() } }));
    expect(browser.cookies.size).toBe(0);
    expect(await browser.page()).toContain(DEFAULT_HERO);
  });

  it("never hands the digest to the origin", async () => {
    const browser = new Browser();
    await browser.events(electronicsView());
    const response = await request(
      "/",
      { headers: { ...BROWSER, cookie: `${browser.header()}; theme=dark` } },
      { ORIGIN_URL: inject("echoOriginUrl") },
    );
    const echoed = (await response.json()) as { headers: Record<string, string | undefined> };
    expect(echoed.headers.cookie).toBe("theme=dark");
  });
});

function alter(value: string, at: number): string {
  const index = at < 0 ? value.length + at : at;
  const character = value[index] === "A" ? "B" : "A";
  return `${value.slice(0, index)}${character}${value.slice(index + 1)}`;
}

async function seal(digest: Record<string, unknown>, pseudonym: string, secret: string): Promise<string> {
  return (await sealDigest(JSON.stringify(digest), pseudonym, secret)) ?? "";
}
