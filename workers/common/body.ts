/**
 * Reading untrusted request bodies: bounded in size while streaming (a missing or lying
 * `Content-Length` does not help an attacker), strict UTF-8, JSON parsed into `unknown`.
 * @module
 */
import { Problem } from "./problem.ts";

/** Reads at most `limit` bytes of the body as strict UTF-8 text, or throws a 413/400 problem. */
export async function readTextBody(request: Request, limit: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) throw tooLarge(limit);
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new Problem(400, { slug: "invalid-encoding", title: "Invalid encoding", detail: "The body is not valid UTF-8." });
  }
}

function tooLarge(limit: number): Problem {
  return new Problem(413, {
    slug: "payload-too-large",
    title: "Payload too large",
    detail: `The body exceeds ${limit} bytes.`,
  });
}

/** The nesting depth at which JSON input is refused before any schema looks at it. */
const MAX_DEPTH = 16;

/** Parses JSON text, refusing malformed or too deeply nested input with a 400 problem. */
export function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Problem(400, { slug: "malformed-json", title: "Malformed JSON", detail: (error as Error).message });
  }
  inspectStructure(value);
  return value;
}

/** Keys that could reach an object's prototype if anything downstream copied them naively. */
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/**
 * Refuses JSON nested deeper than `MAX_DEPTH` or using a prototype-naming key anywhere. Walks
 * without recursion, so hostile input cannot exhaust the stack.
 */
function inspectStructure(root: unknown): void {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (value === null || typeof value !== "object") continue;
    if (depth > MAX_DEPTH) {
      throw new Problem(400, { slug: "too-deep", title: "Too deeply nested", detail: `JSON nesting is limited to ${MAX_DEPTH} levels.` });
    }
    for (const [key, child] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.has(key)) {
        throw new Problem(400, {
          slug: "forbidden-key",
          title: "Forbidden key",
          detail: `The key "${key}" is not accepted anywhere in the body.`,
        });
      }
      stack.push([child, depth + 1]);
    }
  }
}

/** Requires a JSON media type, or throws a 415 problem. */
export function requireJson(request: Request): void {
  const type = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json") {
    throw new Problem(415, {
      slug: "unsupported-media-type",
      title: "Unsupported media type",
      detail: "Send the body as application/json.",
      headers: { "accept-post": "application/json" },
    });
  }
}
