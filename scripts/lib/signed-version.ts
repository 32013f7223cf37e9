/**
 * A rules version as a publish stores it (signed, card templates compiled), and a model as
 * `PUT /admin/api/models/:key` stores it (signed), for tools that put them straight into a local KV
 * namespace: `npm run dev`, Miniflare runs, benchmarks and system tests. Pages use nothing else
 * (shared/rules/signature.ts). The document is checked for shape
 * only; tools that need the full validation publish through the admin API instead.
 * @module
 */
import { Model, RulesDocument } from "../../shared/rules/document.ts";
import { checkDocumentMarkup } from "../../shared/rules/markup-checks.ts";
import { signedModel, signedVersion } from "../../shared/rules/signature.ts";

/** The KV entry (key, value, metadata) for `document` as version `document.version`, signed with `signingKey`. */
export async function signedVersionEntry(
  document: { version: number },
  signingKey: string,
): Promise<{ key: string; value: string; metadata: Record<string, unknown> }> {
  const parsed = RulesDocument.safeParse(document);
  if (!parsed.success) throw new Error(`the rules document does not parse: ${parsed.error.issues[0]?.message ?? ""}`);
  const stored = await signedVersion(
    signingKey,
    document.version,
    { document: { ...document }, templates: checkDocumentMarkup(parsed.data).templates },
    { author: "local", message: "stored by a local tool", publishedAt: new Date().toISOString() },
  );
  return { key: stored.key, value: stored.text, metadata: stored.metadata };
}

/** The KV entry (key, value, metadata) for `model` under `key` (a `models:` key), signed with `signingKey`. */
export async function signedModelEntry(
  key: string,
  model: unknown,
  signingKey: string,
): Promise<{ key: string; value: string; metadata: Record<string, unknown> }> {
  const parsed = Model.safeParse(model);
  if (!parsed.success) throw new Error(`the model for ${key} does not parse: ${parsed.error.issues[0]?.message ?? ""}`);
  const stored = await signedModel(signingKey, key, parsed.data, { author: "local", publishedAt: new Date().toISOString() });
  return { key: stored.key, value: stored.text, metadata: stored.metadata };
}

/** What `signedVersionEntry` needs of a KV namespace (Miniflare's or the Workers one). */
export interface KvWriter {
  put(key: string, value: string, options?: { metadata?: unknown }): Promise<unknown>;
}

/** Stores `document` signed and makes it live, as a publish would. */
export async function putLiveVersion(kv: KvWriter, document: { version: number }, signingKey: string): Promise<void> {
  const entry = await signedVersionEntry(document, signingKey);
  await kv.put(entry.key, entry.value, { metadata: entry.metadata });
  await kv.put("rules:live", JSON.stringify({ version: document.version }));
}
