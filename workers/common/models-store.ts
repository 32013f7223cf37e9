/**
 * Model documents referenced from the rules (`{"kv": "models:recs:v3"}`), loaded from KV once per
 * key per isolate. Keys are versioned by convention — publish a new key rather than rewriting one —
 * so a loaded model never needs re-reading. Only a model the admin published is used: its KV
 * metadata must carry this deployment's signature over that key and those bytes
 * (shared/rules/signature.ts). KV is hostile: a model written any other way (`wrangler kv key put`,
 * an altered byte, a signature copied from another key or made with another secret) could send
 * visitors to another site from the shop's own page, or flip every scored decision. A model that is
 * missing, unsigned or invalid is reported and left out: the rules that need it fall back to the
 * default content (the decision's `model-missing:<name>` fallback, counted with the others).
 * @module
 */
import { type CompiledModel, type CompiledRules, compileModel } from "../../shared/rules/compile.ts";
import { Model } from "../../shared/rules/document.ts";
import { verifyStoredValue } from "../../shared/rules/signature.ts";
import type { Timings } from "./timings.ts";

const loaded = new Map<string, CompiledModel | null>();
const loading = new Map<string, Promise<void>>();

/** Where models come from: the KV namespace and the secret their signatures are checked with. */
export type ModelSource = Pick<Env, "RULES" | "RULES_SIGNING_KEY">;

/** Why a stored model is not used, for the log line (the key is named, never a visitor). */
type Refusal = "model not found" | "model not signed" | "model not JSON" | "model invalid";

/** The model stored under `key` if a publish signed it and it is valid, or why not. */
async function readModel(source: ModelSource, key: string): Promise<{ ok: true; model: Model } | { ok: false; reason: Refusal }> {
  const { value: text, metadata } = await source.RULES.getWithMetadata<unknown>(key, "text");
  if (text === null) return { ok: false, reason: "model not found" };
  // The signature first: nothing of an unsigned value is parsed, however it was written.
  const signature = typeof metadata === "object" && metadata !== null ? (metadata as { signature?: unknown }).signature : undefined;
  if (!(await verifyStoredValue(source.RULES_SIGNING_KEY, key, text, signature))) return { ok: false, reason: "model not signed" };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: "model not JSON" };
  }
  const parsed = Model.safeParse(raw);
  return parsed.success ? { ok: true, model: parsed.data } : { ok: false, reason: "model invalid" };
}

function load(source: ModelSource, key: string): Promise<void> {
  let pending = loading.get(key);
  if (pending === undefined) {
    pending = readModel(source, key)
      .then((read) => {
        if (!read.ok) console.error(JSON.stringify({ message: read.reason, key }));
        loaded.set(key, read.ok ? compileModel(read.model) : null);
      })
      .catch((error: unknown) => console.error(JSON.stringify({ message: "model load failed", key, error: String(error) })))
      .finally(() => loading.delete(key));
    loading.set(key, pending);
  }
  return pending;
}

/** Loads the KV models `rules` reference that this isolate lacks, waiting at most `deadlineMs`. */
export async function loadModels(source: ModelSource, rules: CompiledRules, deadlineMs: number, timings: Timings): Promise<void> {
  const pending: Promise<void>[] = [];
  for (const model of rules.models.values()) {
    if (model.kind === "kv" && !loaded.has(model.key)) pending.push(load(source, model.key));
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
