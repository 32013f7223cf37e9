/**
 * Where Durable Objects live. Every object Tailor addresses (visitors, users, experiments, dead
 * letters, the rules registry, exposure memory) is reached through `placed`, so `DATA_JURISDICTION`
 * applies to all of them at once. An object's id includes its jurisdiction: the same name under
 * "eu" and under no jurisdiction are two different objects, which is why the setting is chosen
 * before the first deploy and never changed (docs/operations.md, "Data residency").
 * @see https://developers.cloudflare.com/durable-objects/reference/data-location/
 * @module
 */
import { settings } from "./config.ts";

const restricted = new WeakMap<object, object>();

/** The namespace as this deployment must use it: restricted to `DATA_JURISDICTION`, or as bound. */
export function placed<T extends Rpc.DurableObjectBranded | undefined>(
  namespace: DurableObjectNamespace<T>,
  env: object,
): DurableObjectNamespace<T> {
  const jurisdiction = settings(env).DATA_JURISDICTION;
  if (jurisdiction === "none") return namespace;
  let subset = restricted.get(namespace) as DurableObjectNamespace<T> | undefined;
  if (subset === undefined) {
    subset = namespace.jurisdiction(jurisdiction);
    restricted.set(namespace, subset);
  }
  return subset;
}
