/**
 * Reading an attribute by its dotted path (`behavior.views_7d.total`), compiled once per path. Shared
 * by the condition compiler and the scoring models, which both read the same attribute tree.
 * @module
 */

/** Reads a dot-separated path; anything missing on the way reads as `null`, as in GrowthBook. */
export function compilePath(path: string): (object: unknown) => unknown {
  const parts = path.split(".");
  const step = (current: unknown, part: string): unknown =>
    current !== null && typeof current === "object" && part in current ? (current as Record<string, unknown>)[part] : null;
  // Short paths (almost all of them) are unrolled: no loop, no array access per read.
  if (parts.length === 1) return (object) => step(object, path);
  if (parts.length === 2) {
    const [first = "", second = ""] = parts;
    return (object) => step(step(object, first), second);
  }
  if (parts.length === 3) {
    const [first = "", second = "", third = ""] = parts;
    return (object) => step(step(step(object, first), second), third);
  }
  if (parts.length === 4) {
    const [first = "", second = "", third = "", fourth = ""] = parts;
    return (object) => step(step(step(step(object, first), second), third), fourth);
  }
  return (object) => {
    let current = object;
    for (let index = 0; index < parts.length; index++) {
      const part = parts[index] ?? "";
      if (current !== null && typeof current === "object" && part in current) current = (current as Record<string, unknown>)[part];
      else return null;
    }
    return current;
  };
}
