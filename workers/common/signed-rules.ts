/**
 * Reading a rules version from KV and checking its signature (shared/rules/signature.ts says what
 * is signed and how). The page path serves a version only when `signed` is true.
 * @module
 */
import { rulesVersionKey } from "../../shared/rules/document.ts";
import { StoredVersionValue, verifyStoredValue } from "../../shared/rules/signature.ts";

/** A stored version as read from KV: the document (unwrapped) and whether its signature holds, or why it cannot be read. */
export type StoredVersion =
  | { ok: true; value: unknown; templates: StoredVersionValue["templates"]; signed: boolean }
  | { ok: false; reason: "missing" | "not-json" };

/**
 * Reads one version without trusting it: the value may be anything a hand edit put there. A value
 * in the stored shape is unwrapped to its document; anything else (a bare document written by
 * hand) is returned as it is, for the admin to show, and is never `signed`.
 */
export async function readStoredVersion(source: Pick<Env, "RULES" | "RULES_SIGNING_KEY">, version: number): Promise<StoredVersion> {
  if (!Number.isInteger(version) || version <= 0) return { ok: false, reason: "missing" };
  const key = rulesVersionKey(version);
  const { value: text, metadata } = await source.RULES.getWithMetadata<unknown>(key, "text");
  if (text === null) return { ok: false, reason: "missing" };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: "not-json" };
  }
  const stored = StoredVersionValue.safeParse(raw);
  if (!stored.success) return { ok: true, value: raw, templates: {}, signed: false };
  const signature = typeof metadata === "object" && metadata !== null ? (metadata as { signature?: unknown }).signature : undefined;
  const signed = await verifyStoredValue(source.RULES_SIGNING_KEY, key, text, signature);
  return { ok: true, value: stored.data.document, templates: stored.data.templates, signed };
}
