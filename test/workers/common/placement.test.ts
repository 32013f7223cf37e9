/**
 * Data residency: with `DATA_JURISDICTION = "eu"` every visitor's state lives in an EU-restricted
 * Durable Object, and a visitor finds the same object on every request; with "none" nothing moves.
 *
 * workerd does not implement jurisdictions ("Jurisdiction restrictions are not implemented in
 * workerd"), so the namespaces here stand in for the platform: `jurisdiction("eu")` answers a
 * namespace whose objects are the real ones under an "eu/" name, which makes an EU object a
 * different object from the unrestricted one, as on Cloudflare.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ProfileExport } from "../../../shared/profile/export.ts";
import { placed } from "../../../workers/common/placement.ts";
import { pseudonymFor } from "../../../workers/common/visitor.ts";
import { request, track, visitorCookieFrom } from "../../support/worker/fixtures.ts";

/** A namespace whose `jurisdiction(j)` is the real namespace under names prefixed with `j/`; records each call. */
function withJurisdictions<T extends Rpc.DurableObjectBranded | undefined>(
  real: DurableObjectNamespace<T>,
  calls: string[],
): DurableObjectNamespace<T> {
  const restrictedTo = (jurisdiction: string): DurableObjectNamespace<T> => {
    calls.push(jurisdiction);
    const named = (name: string) => `${jurisdiction}/${name}`;
    return {
      idFromName: (name: string) => real.idFromName(named(name)),
      getByName: (name: string) => real.getByName(named(name)),
      get: (id: DurableObjectId) => real.get(id),
      newUniqueId: () => real.newUniqueId(),
      idFromString: (id: string) => real.idFromString(id),
      jurisdiction: restrictedTo,
    } as unknown as DurableObjectNamespace<T>;
  };
  return new Proxy(real, {
    get(target, property) {
      if (property === "jurisdiction") return restrictedTo;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

const NAMESPACES = ["USER_SESSION", "EXPERIMENT_STATS", "DEAD_LETTERS", "RULES_REGISTRY", "EXPOSURE_MEMORY", "EXPOSURE_OUTBOX"] as const;

function post(body: unknown, cookie: string | undefined, overrides: Partial<Env>): Promise<Response> {
  return request(
    "/v1/events",
    {
      method: "POST",
      headers: { "content-type": "application/json", ...(cookie === undefined ? {} : { cookie }) },
      body: JSON.stringify(body),
    },
    overrides,
  );
}

describe("DATA_JURISDICTION", () => {
  it.each(NAMESPACES)("eu: %s is addressed through its EU jurisdiction, the same name giving the same object", (binding) => {
    const calls: string[] = [];
    const namespace = withJurisdictions(env[binding] as DurableObjectNamespace, calls);
    const deployment = { ...env, DATA_JURISDICTION: "eu" };
    const first = placed(namespace, deployment).idFromName("same-name");
    const again = placed(namespace, deployment).idFromName("same-name");
    expect(calls).toEqual(["eu"]);
    expect(first.equals(again)).toBe(true);
    expect(first.equals(namespace.idFromName("same-name"))).toBe(false);
  });

  it.each([["none"], [""], ["mars"]])("%j: objects are addressed as bound, with no jurisdiction", (value) => {
    const calls: string[] = [];
    const namespace = withJurisdictions(env.USER_SESSION, calls);
    const id = placed(namespace, { ...env, DATA_JURISDICTION: value }).idFromName("same-name");
    expect(calls).toEqual([]);
    expect(id.equals(env.USER_SESSION.idFromName("same-name"))).toBe(true);
  });

  it("eu: a visitor's events land in an EU object, which later requests (events, profile, page) find again", async () => {
    const calls: string[] = [];
    const eu = { DATA_JURISDICTION: "eu", USER_SESSION: withJurisdictions(env.USER_SESSION, calls) } as Partial<Env>;
    const first = await post(track("Product Viewed", { product_id: "eu-1", category: "home" }), undefined, eu);
    expect(first.status).toBe(202);
    const cookie = visitorCookieFrom(first);
    if (cookie === null) throw new Error("no visitor cookie");
    expect((await post(track("Product Viewed", { product_id: "eu-2", category: "home" }), cookie, eu)).status).toBe(202);

    const profile = await request("/v1/profile", { headers: { cookie } }, eu);
    expect(profile.status).toBe(200);
    const exported = (await profile.json()) as ProfileExport;
    expect(exported.events.map((event) => event.properties.product_id)).toEqual(["eu-1", "eu-2"]);
    expect(calls.length).toBeGreaterThan(0);
    expect(new Set(calls)).toEqual(new Set(["eu"]));

    const pseudonym = await pseudonymFor(cookie.replace(/^tailor_vid=/, ""), env.VISITOR_ID_SECRET);
    const outside = JSON.parse(await env.USER_SESSION.getByName(pseudonym).exportProfile([pseudonym])) as ProfileExport;
    expect(outside.events).toHaveLength(0);
  });
});
