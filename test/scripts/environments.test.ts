/**
 * The deployable environments in wrangler.toml, as wrangler resolves them: no workers.dev copy of
 * the shop, routes only for what Tailor serves, every binding the Worker needs with resources of
 * their own (bindings and vars are not inherited), and the limits and log sampling set.
 */
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";

const CONFIG = new URL("../../wrangler.toml", import.meta.url).pathname;
const ENVIRONMENTS = ["staging", "production"] as const;
/** The parts of wrangler's resolved configuration checked here. */
interface Resolved {
  workers_dev?: boolean;
  preview_urls?: boolean;
  routes?: (string | { pattern: string; zone_name?: string })[];
  durable_objects: { bindings: { name: string }[] };
  kv_namespaces: { binding: string; id?: string }[];
  queues: { producers?: { binding: string; queue: string }[] };
  analytics_engine_datasets: { binding: string; dataset?: string }[];
  ratelimits: { name: string; namespace_id: string }[];
  vars: Record<string, unknown>;
  limits?: { cpu_ms?: number };
  observability?: { head_sampling_rate?: number };
}
const read = (env?: string) => unstable_readConfig({ config: CONFIG, ...(env === undefined ? {} : { env }) }) as unknown as Resolved;
const top = read();

/** Binding names of every kind the Worker uses. */
function bindingNames(config: Resolved): string[] {
  return [
    ...config.durable_objects.bindings.map((binding) => binding.name),
    ...config.kv_namespaces.map((binding) => binding.binding),
    ...(config.queues.producers ?? []).map((binding) => binding.binding),
    ...config.analytics_engine_datasets.map((binding) => binding.binding),
    ...config.ratelimits.map((binding) => binding.name),
  ].sort();
}

describe.each(ENVIRONMENTS)("[env.%s]", (name) => {
  const config = read(name);

  it("has no workers.dev hostname or preview URLs, and answers only on routes", () => {
    expect(config.workers_dev).toBe(false);
    expect(config.preview_urls).toBe(false);
    expect(config.routes?.length).toBeGreaterThan(0);
  });

  it("routes only Tailor's own prefixes and page paths, each on a named zone", () => {
    for (const route of config.routes ?? []) {
      if (typeof route === "string" || !("zone_name" in route)) throw new Error(`route without zone_name: ${JSON.stringify(route)}`);
      const path = route.pattern.slice(route.pattern.indexOf("/"));
      expect(["/", "/c/*", "/v1/*", "/t.js", "/admin*"]).toContain(path);
      expect(route.pattern.startsWith("*")).toBe(false);
    }
  });

  it("binds everything the top level binds, with its own queues, dataset and rate-limit namespaces", () => {
    expect(bindingNames(config)).toEqual(bindingNames(top));
    const topQueues = new Set((top.queues.producers ?? []).map((producer) => producer.queue));
    for (const producer of config.queues.producers ?? []) expect(topQueues.has(producer.queue)).toBe(false);
    expect(config.analytics_engine_datasets[0]?.dataset).not.toBe(top.analytics_engine_datasets[0]?.dataset);
    const others = ENVIRONMENTS.filter((other) => other !== name).flatMap((other) =>
      read(other).ratelimits.map((limit) => limit.namespace_id),
    );
    for (const limit of config.ratelimits) {
      expect(top.ratelimits.map((one) => one.namespace_id)).not.toContain(limit.namespace_id);
      expect(others).not.toContain(limit.namespace_id);
    }
  });

  it("repeats every var, so no setting silently falls back", () => {
    expect(Object.keys(config.vars).sort()).toEqual(Object.keys(top.vars).sort());
    expect(["none", "eu"]).toContain(config.vars.DATA_JURISDICTION);
  });

  it("sets a CPU limit and log sampling", () => {
    expect(config.limits?.cpu_ms).toBeGreaterThan(0);
    expect(config.observability?.head_sampling_rate).toBeGreaterThan(0);
    expect(config.observability?.head_sampling_rate).toBeLessThanOrEqual(1);
  });

  it("keeps the KV id for setup to write, or a real one", () => {
    expect(config.kv_namespaces[0]?.id).toMatch(new RegExp(`^(setup:${name}:RULES|[0-9a-f]{32})$`));
  });
});
