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
  if (depthOf(value) > MAX_DEPTH) {
    throw new Problem(400, { slug: "too-deep", title: "Too deeply nested", detail: `JSON nesting is limited to ${MAX_DEPTH} levels.` });
  }
  return value;
}

/** Nesting depth without recursion, so hostile input cannot exhaust the stack. */
function depthOf(root: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (value === null || typeof value !== "object") continue;
    deepest = Math.max(deepest, depth);
    if (deepest > MAX_DEPTH) return deepest;
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return deepest;
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
