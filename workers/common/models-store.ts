/**
 * Model documents referenced from the rules (`{"kv": "models:recs:v3"}`), loaded from KV once per
 * key per isolate. Keys are versioned by convention — publish a new key rather than rewriting one —
 * so a loaded model never needs re-reading. A model that is missing or invalid is reported and
 * left out: the rules that need it fall back to the default content.
 * @module
 */
import { type CompiledModel, type CompiledRules, compileModel } from "../../shared/rules/compile.ts";
import { Model } from "../../shared/rules/document.ts";
import type { Timings } from "./timings.ts";

const loaded = new Map<string, CompiledModel | null>();
const loading = new Map<string, Promise<void>>();

function load(kv: KVNamespace, key: string): Promise<void> {
  let pending = loading.get(key);
  if (pending === undefined) {
    pending = kv
      .get(key, "json")
      .then((raw) => {
        const parsed = Model.safeParse(raw);
        if (!parsed.success) console.error(JSON.stringify({ message: raw === null ? "model not found" : "model invalid", key }));
        loaded.set(key, parsed.success ? compileModel(parsed.data) : null);
      })
      .catch((error: unknown) => console.error(JSON.stringify({ message: "model load failed", key, error: String(error) })))
      .finally(() => loading.delete(key));
    loading.set(key, pending);
  }
  return pending;
}

/** Loads the KV models `rules` reference that this isolate lacks, waiting at most `deadlineMs`. */
export async function loadModels(kv: KVNamespace, rules: CompiledRules, deadlineMs: number, timings: Timings): Promise<void> {
  const pending: Promise<void>[] = [];
  for (const model of rules.models.values()) {
    if (model.kind === "kv" && !loaded.has(model.key)) pending.push(load(kv, model.key));
  }
  if (pending.length === 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, deadlineMs);
  });
  await timings.measure("models", () => Promise.race([Promise.all(pending), late]));
  if (timer !== undefined) clearTimeout(timer);
}

/** The usable model for a name, resolving KV references from what is loaded. */
export function modelResolver(rules: CompiledRules): (name: string) => CompiledModel | undefined {
  return (name) => {
    const model = rules.models.get(name);
    if (model?.kind !== "kv") return model;
    return loaded.get(model.key) ?? undefined;
  };
}
