/**
 * Keys Tailor derives from visitor input (category and product ids that become counter keys and
 * attribute path segments). A leaf module: events normalize keys when recorded, the profile reads
 * them back, and neither folder has to import the other for it.
 * @module
 */

/** Counter keys become attribute path segments: lower-case, no dots, nothing that names a prototype. */
export const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** Normalizes a category or product id into a counter key (`"Home & Kitchen"` → `home-kitchen`). */
export function normalizeKey(raw: unknown): string | null {
  if (typeof raw !== "string" && typeof raw !== "number") return null;
  const key = String(raw)
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 64);
  return key === "" || FORBIDDEN_KEYS.has(key) ? null : key;
}
