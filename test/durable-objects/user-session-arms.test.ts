/**
 * Remembered bandit arms past the limit of 50: the oldest give way to the newest, so a visitor in
 * many bandits never loses every arm at once (which reset them all and skewed the bandits' counts).
 */
import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { USER_SESSION_ON_DEMAND } from "../../durable-objects/user-session.migrations.ts";
import type { UserSession } from "../../durable-objects/user-session.ts";
import type { ProfileExport } from "../../shared/profile/export.ts";

const LIMIT = 50;

function experiments(count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, index) => `bandit_${from + index}`);
}

function name(prefix: string): string {
  return `${prefix}${crypto.randomUUID().replaceAll("-", "")}`.slice(0, 32);
}

async function armsOf(stub: DurableObjectStub<UserSession>, names: string[]) {
  return stub.readProfile({ attributes: names.map((experiment) => `assignments.${experiment}`), now: Date.now() });
}

const expected = (names: string[], variant = "a") => Object.fromEntries(names.map((experiment) => [`assignments.${experiment}`, variant]));

/** Ways a visitor comes to more than 50 arms: one at a time, in full batches, or a few beyond. */
const GROWTH: [string, number[]][] = [
  ["one arm at a time, 60 in all", Array.from({ length: 60 }, () => 1)],
  ["two batches of 50", [50, 50]],
  ["50 then one more", [50, 1]],
  ["batches of 7 up to 98", Array.from({ length: 14 }, () => 7)],
];

describe("UserSession remembered bandit arms past the limit", () => {
  it.each(GROWTH)("%s: the newest 50 arms read back, the oldest are forgotten", async (_, sizes) => {
    const stub = env.USER_SESSION.getByName(crypto.randomUUID());
    let next = 0;
    for (const size of sizes) {
      await stub.rememberAssignments(Object.fromEntries(experiments(size, next).map((experiment) => [experiment, "a"])));
      next += size;
    }
    const all = experiments(next);
    const newest = all.slice(-LIMIT);
    expect(await armsOf(stub, all)).toEqual(expected(newest));
    expect(Object.keys((JSON.parse(await stub.exportProfile()) as ProfileExport).assignments)).toEqual(newest);
  });

  it("an experiment drawn again counts as the newest, and the arms stored before the limit read back as the newest 50", async () => {
    const stub = env.USER_SESSION.getByName(crypto.randomUUID());
    await stub.rememberAssignments(Object.fromEntries(experiments(LIMIT).map((experiment) => [experiment, "a"])));
    await stub.rememberAssignments({ bandit_0: "b" });
    await stub.rememberAssignments({ bandit_new: "a" });
    const kept = [...experiments(LIMIT - 2, 2), "bandit_new"];
    expect(await armsOf(stub, ["bandit_0", "bandit_1", ...kept])).toEqual({ "assignments.bandit_0": "b", ...expected(kept) });

    // An object that stored 70 arms before the limit was kept (memory has not read them yet).
    const oldName = crypto.randomUUID();
    const old = env.USER_SESSION.getByName(oldName);
    await old.record({
      visitor: name("old"),
      events: [
        {
          messageId: crypto.randomUUID(),
          type: "page",
          event: null,
          category: null,
          productId: null,
          path: "/",
          receivedAt: Date.now(),
          clientTime: null,
          properties: {},
          consent: null,
        },
      ],
    });
    const stored = experiments(70);
    await runInDurableObject(old, (_, state) => {
      // A new object creates `meta` only when it first writes to it.
      state.storage.sql.exec(USER_SESSION_ON_DEMAND.meta);
      state.storage.sql.exec(
        "INSERT INTO meta (name, value) VALUES ('assignments', ?)",
        JSON.stringify(Object.fromEntries(stored.map((experiment) => [experiment, "a"]))),
      );
    });
    // Loaded again, as an object that stored them long ago would be.
    await abortAllDurableObjects();
    expect(await armsOf(env.USER_SESSION.getByName(oldName), stored)).toEqual(expected(stored.slice(-LIMIT)));
  });

  it("a linked device's arms fill the user's up to the limit, the user's own kept", async () => {
    const [userName, deviceName] = [name("user"), name("device")];
    const user = env.USER_SESSION.getByName(userName);
    const device = env.USER_SESSION.getByName(deviceName);
    const own = experiments(40);
    await user.rememberAssignments(Object.fromEntries(own.map((experiment) => [experiment, "u"])));
    await device.rememberAssignments(Object.fromEntries(experiments(40, 100).map((experiment) => [experiment, "d"])));
    expect(await device.linkToUser(userName, deviceName)).toBe("linked");
    const arms = (JSON.parse(await user.exportProfile()) as ProfileExport).assignments;
    expect(Object.keys(arms)).toHaveLength(LIMIT);
    for (const experiment of own) expect(arms[experiment]).toBe("u");
    expect(await armsOf(user, own)).toEqual(expected(own, "u"));
  });
});
