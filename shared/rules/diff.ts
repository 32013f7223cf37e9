/**
 * What changed between two rules documents, as JSON pointers: rules are compared by id rather
 * than by position, so reordering does not read as every rule changing.
 * @module
 */
import { escapePointerPart } from "../json-pointer.ts";

export interface Change {
  pointer: string;
  change: "added" | "removed" | "changed";
  before?: unknown;
  after?: unknown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Rule lists become objects keyed by rule id, so a diff names rules. */
function keyed(value: unknown): unknown {
  if (Array.isArray(value) && value.every((item) => isObject(item) && typeof item.id === "string")) {
    return Object.fromEntries(value.map((item) => [(item as { id: string }).id, item]));
  }
  return value;
}

function walk(before: unknown, after: unknown, pointer: string, changes: Change[]): void {
  const left = keyed(before);
  const right = keyed(after);
  if (isObject(left) && isObject(right)) {
    for (const key of new Set([...Object.keys(left), ...Object.keys(right)])) {
      const next = `${pointer}/${escapePointerPart(key)}`;
      if (!(key in left)) changes.push({ pointer: next, change: "added", after: right[key] });
      else if (!(key in right)) changes.push({ pointer: next, change: "removed", before: left[key] });
      else walk(left[key], right[key], next, changes);
    }
    return;
  }
  if (JSON.stringify(left) !== JSON.stringify(right))
    changes.push({ pointer: pointer === "" ? "/" : pointer, change: "changed", before, after });
}

export function diffDocuments(before: unknown, after: unknown): Change[] {
  const changes: Change[] = [];
  const { version: _before, ...left } = isObject(before) ? before : {};
  const { version: _after, ...right } = isObject(after) ? after : {};
  walk(left, right, "", changes);
  return changes;
}
