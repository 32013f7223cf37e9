/**
 * Which version each version should be compared with on the versions page: the one that was
 * serving just before it was published. That is not simply the version numbered one lower: after a
 * rollback the live version is an older one, and a version the loader refused never served (the
 * one before it kept serving), so neither may be the base of the next comparison.
 * @module
 */

/**
 * For each of `versions`, the version serving just before it was published (null for the first).
 * `replaced` holds the live pointer the registry saw when it published a version; where that is
 * unknown (a version written straight to KV, or published before the registry kept it), the newest
 * older version that is not `refused` stands in. A refused base is replaced by its own base, as
 * the version before it kept serving.
 */
export function versionsLiveBefore(
  versions: readonly number[],
  replaced: ReadonlyMap<number, number | null>,
  refused: ReadonlySet<number>,
): Map<number, number | null> {
  const known = new Set(versions);
  const ascending = [...versions].sort((a, b) => a - b);
  const pointerBefore = (version: number): number | null => {
    const recorded = replaced.get(version);
    if (recorded !== undefined && recorded !== null && known.has(recorded)) return recorded;
    const older = ascending.filter((candidate) => candidate < version && !refused.has(candidate));
    return older.at(-1) ?? null;
  };
  const bases = new Map<number, number | null>();
  for (const version of versions) {
    let base = pointerBefore(version);
    // Each step is a version recorded earlier; the guard only stops a corrupted record looping.
    for (let steps = 0; base !== null && refused.has(base) && steps < versions.length; steps++) base = pointerBefore(base);
    bases.set(version, base !== null && refused.has(base) ? null : base);
  }
  return bases;
}
