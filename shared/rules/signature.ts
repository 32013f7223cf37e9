/**
 * Rules versions as stored in KV, signed; workers/common/signed-rules.ts reads them. The admin
 * Worker validates a document in full at publish (the HTML parser, the regex analyser:
 * workers/common/validate.ts), and the registry stores it with an HMAC-SHA-256 over the exact
 * stored bytes, keyed with `RULES_SIGNING_KEY`. The visitors' Worker checks that signature instead
 * of validating again, so it carries neither library; a value written into KV any other way
 * (`wrangler kv key put`, an altered byte, another deployment's key, no signature) is refused as an
 * invalid document always was. docs/decisions/0016-admin-worker-signed-rules.md says why,
 * docs/storage.md shows the layout.
 *
 * The value at `rules:version:<n>` is `{"document": {...}, "templates": {...}}`: the document as
 * published and each recommendation card's template compiled at publish (by its source), so the
 * page path renders cards without parsing HTML. The signature is in the key's metadata
 * (`signature`, unpadded base64url), over `tailor-rules:v1:<key>\n<value>`: naming the key means a
 * signed version copied under another number does not verify.
 *
 * Models published on their own (`models:<name>`, referenced from documents as `{"kv": ...}`) are
 * signed the same way: the value is the model as JSON, the signature in the key's metadata, over
 * `tailor-rules:v1:<key>\n<value>`. The key in the signed bytes keeps a model from verifying under
 * another model's key, and a rules version from verifying as a model (their keys differ in prefix).
 * workers/common/models-store.ts loads nothing else.
 * @module
 */
import { decodeBase64Url, encodeBase64Url } from "hono/utils/encode";
import { type CompiledTemplate, StoredTemplate } from "../html/template-render.ts";
import * as z from "../zod.ts";
import { type Model, rulesVersionKey } from "./document.ts";

/** The shortest signing key accepted: with a shorter (or no) key nothing is signed and nothing verifies. */
export const MIN_SIGNING_KEY_LENGTH = 32;

/** The value stored at `rules:v:<n>`. */
export const StoredVersionValue = z.strictObject({
  document: z.record(z.string(), z.unknown()),
  templates: z.record(z.string(), StoredTemplate),
});
export type StoredVersionValue = z.infer<typeof StoredVersionValue>;

/** The metadata on `rules:v:<n>`: who published it, and the signature. */
export const VersionMetadata = z.object({
  author: z.string(),
  message: z.string(),
  publishedAt: z.string(),
  signature: z.optional(z.string()),
});
export type VersionMetadata = z.infer<typeof VersionMetadata>;

const encoder = new TextEncoder();
/** The imported key for the one secret a Worker has (importing costs more than signing). */
type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
let cachedKey: { secret: string; key: Promise<HmacKey> } | undefined;

function hmacKey(secret: string): Promise<HmacKey> {
  if (cachedKey?.secret !== secret)
    cachedKey = {
      secret,
      key: crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]),
    };
  return cachedKey.key;
}

function signedBytes(key: string, value: string): Uint8Array {
  return encoder.encode(`tailor-rules:v1:${key}\n${value}`);
}

/** Whether `secret` can sign and verify at all. */
export function usableSigningKey(secret: string | undefined): secret is string {
  return secret !== undefined && secret.length >= MIN_SIGNING_KEY_LENGTH;
}

/** The signature for `value` stored under `key` (unpadded base64url). */
export async function signStoredValue(secret: string, key: string, value: string): Promise<string> {
  const signature = await crypto.subtle.sign("HMAC", await hmacKey(secret), signedBytes(key, value));
  return encodeBase64Url(signature).replace(/=+$/, "");
}

/** Whether `signature` is this deployment's signature for `value` under `key` (constant time, by the platform). */
export async function verifyStoredValue(secret: string | undefined, key: string, value: string, signature: unknown): Promise<boolean> {
  if (!usableSigningKey(secret) || typeof signature !== "string" || !/^[A-Za-z0-9_-]{43}$/.test(signature)) return false;
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64Url(signature);
  } catch {
    return false;
  }
  return crypto.subtle.verify("HMAC", await hmacKey(secret), bytes, signedBytes(key, value));
}

/** The text and metadata to store for a version: the value and its signature. */
export async function signedVersion(
  secret: string,
  version: number,
  value: { document: Record<string, unknown>; templates: Readonly<Record<string, CompiledTemplate>> },
  metadata: Omit<VersionMetadata, "signature">,
): Promise<{ key: string; text: string; metadata: VersionMetadata }> {
  const key = rulesVersionKey(version);
  const text = JSON.stringify(value);
  return { key, text, metadata: { ...metadata, signature: await signStoredValue(secret, key, text) } };
}

/** The metadata on a published model (`models:<name>`): who published it, when, and the signature. */
export const ModelMetadata = z.object({
  author: z.string(),
  publishedAt: z.string(),
  signature: z.optional(z.string()),
});
export type ModelMetadata = z.infer<typeof ModelMetadata>;

/** The text and metadata to store for `model` under `key` (a `models:` key): the model as JSON and its signature. */
export async function signedModel(
  secret: string,
  key: string,
  model: Model,
  metadata: Omit<ModelMetadata, "signature">,
): Promise<{ key: string; text: string; metadata: ModelMetadata }> {
  const text = JSON.stringify(model);
  return { key, text, metadata: { ...metadata, signature: await signStoredValue(secret, key, text) } };
}
