/**
 * Data residency for a linked browser: everything a browser linked to a user passes on (events,
 * remembered bandit arms, profile reads, exports) reaches the user's object inside the deployment's
 * `DATA_JURISDICTION`, never an unrestricted object of the same name.
 *
 * workerd does not implement jurisdictions, so, as in test/workers/common/placement.test.ts, the
 * namespace stands in for the platform: `jurisdiction("eu")` answers the real namespace under names
 * prefixed with "eu/", which makes an EU object a different object from the unrestricted one.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { UserSession } from "../../durable-objects/user-session.ts";
import type { RecordedEvent } from "../../shared/events/recorded.ts";
import type { ProfileExport } from "../../shared/profile/export.ts";

/** `real`, except that `jurisdiction(j)` addresses the real objects named `j/<name>`. */
function withJurisdictions(real: DurableObjectNamespace<UserSession>): DurableObjectNamespace<UserSession> {
  const restrictedTo = (jurisdiction: string): DurableObjectNamespace<UserSession> =>
    ({
      idFromName: (name: string) => real.idFromName(`${jurisdiction}/${name}`),
      getByName: (name: string) => real.getByName(`${jurisdiction}/${name}`),
      jurisdiction: restrictedTo,
    }) as unknown as DurableObjectNamespace<UserSession>;
  return new Proxy(real, {
    get(target, property) {
      if (property === "jurisdiction") return restrictedTo;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function pseudonym(prefix: string): string {
  return `${prefix}${crypto.randomUUID().replaceAll("-", "")}`.slice(0, 32);
}

function viewed(productId: string): RecordedEvent {
  return {
    messageId: crypto.randomUUID(),
    type: "track",
    event: "Product Viewed",
    category: "home",
    productId,
    path: "/p/x",
    receivedAt: Date.now(),
    clientTime: null,
    properties: {},
    consent: null,
  };
}

/** What a linked browser passes on, and how to see it in the user's object. */
const FORWARDED: [
  string,
  (device: UserSession) => Promise<unknown>,
  (user: DurableObjectStub<UserSession>) => Promise<unknown>,
  unknown,
  unknown,
][] = [
  [
    "remembered bandit arms",
    (device) => device.rememberAssignments({ hero_bandit: "bold" }),
    (user) => user.readProfile({ attributes: ["assignments.hero_bandit"], now: Date.now() }),
    { "assignments.hero_bandit": "bold" },
    {},
  ],
  [
    "events",
    (device) => device.record({ visitor: pseudonym("d"), events: [viewed("eu-1")] }),
    async (user) => (JSON.parse(await user.exportProfile()) as ProfileExport).events.map((event) => event.productId),
    ["eu-1"],
    [],
  ],
];

describe("UserSession in a restricted jurisdiction", () => {
  it.each(FORWARDED)(
    "a linked browser's %s reach the user's object in the deployment's jurisdiction",
    async (_, pass, seen, inEu, elsewhere) => {
      const [userName, deviceName] = [pseudonym("user"), pseudonym("device")];
      const eu = { ...env, DATA_JURISDICTION: "eu", USER_SESSION: withJurisdictions(env.USER_SESSION) };
      const device = env.USER_SESSION.getByName(`eu/${deviceName}`);
      await runInDurableObject(device, async (instance) => {
        // The object as deployed with DATA_JURISDICTION = "eu".
        Object.assign(instance, { env: eu });
        expect(await instance.linkToUser(userName, deviceName)).toBe("linked");
        await pass(instance);
      });
      expect(await seen(env.USER_SESSION.getByName(`eu/${userName}`))).toEqual(inEu);
      // Nothing of the user's lands outside the jurisdiction.
      expect(await seen(env.USER_SESSION.getByName(userName))).toEqual(elsewhere);
    },
  );
});
