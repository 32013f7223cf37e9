/**
 * The per-address event limit keys on CF-Connecting-IP only as Cloudflare's edge sets it: a client
 * that sends its own, rotating one on every batch (and drops its visitor cookie, so each batch is a
 * new visitor) does not get a fresh limit each time.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../../workers/index.ts";
import { track } from "../../support/worker/fixtures.ts";

/** A limiter that allows `limit` calls per key and remembers the keys it saw. */
function countingLimiter(limit: number): { limiter: RateLimit; keys: string[] } {
  const keys: string[] = [];
  const counts = new Map<string, number>();
  const limiter = {
    limit: async ({ key }: { key: string }) => {
      keys.push(key);
      const count = (counts.get(key) ?? 0) + 1;
      counts.set(key, count);
      return { success: count <= limit };
    },
  } as RateLimit;
  return { limiter, keys };
}

function postFrom(address: string, limiter: RateLimit, cf?: Record<string, unknown>): Promise<Response> {
  const request = new Request("http://shop.test/v1/events", {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": address },
    body: JSON.stringify(track("Product Viewed")),
    ...(cf === undefined ? {} : { cf }),
  });
  return Promise.resolve(worker.fetch(request, { ...env, CLIENT_RATE_LIMITER: limiter }, createExecutionContext()));
}

describe("the per-address limit", () => {
  it("is not escaped by rotating a CF-Connecting-IP the client set itself", async () => {
    const { limiter } = countingLimiter(3);
    const statuses: number[] = [];
    for (let index = 0; index < 8; index++) statuses.push((await postFrom(`203.0.113.${index + 1}`, limiter)).status);
    expect(statuses.slice(0, 3)).toEqual([202, 202, 202]);
    expect(statuses.slice(3)).toEqual([429, 429, 429, 429, 429]);
  });

  it("uses the address Cloudflare's edge set when the request came through it", async () => {
    const { limiter, keys } = countingLimiter(100);
    const edge = { country: "DE", colo: "FRA" };
    for (const address of ["198.51.100.1", "198.51.100.2", "198.51.100.1"])
      expect((await postFrom(address, limiter, edge)).status).toBe(202);
    expect(new Set(keys).size).toBe(2);
    expect(keys[0]).toBe(keys[2]);
    // Keyed by a hash, never the address itself.
    expect(keys.join(" ")).not.toContain("198.51.100");
  });
});
