/**
 * Deterministic experiment assignment, compatible with GrowthBook's SDKs: the same visitor gets
 * the same variant on every request and every edge node, with no storage. Names and signatures
 * follow GrowthBook's (`hash`, `getBucketRanges`, `chooseVariation`, `inNamespace`,
 * `getEqualWeights`) so an experiment defined for one assigns identically in the other.
 * @module
 */

/** A variant's share of the unit interval: `[start, end)`. */
export type VariationRange = readonly [number, number];

/** FNV-1a, 32 bit, over UTF-16 code units (as GrowthBook computes it). */
function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash += (hash << 1) + (hash << 4) + (hash << 7) + (hash << 8) + (hash << 24);
  }
  return hash >>> 0;
}

/**
 * Maps (seed, value) to [0, 1). Version 2 is the unbiased double hash; version 1 is the original
 * (kept for experiments started with it). Any other version gives `null`.
 */
export function hash(seed: string, value: string, version: number): number | null {
  if (version === 2) return (fnv1a32(`${fnv1a32(seed + value)}`) % 10_000) / 10_000;
  if (version === 1) return (fnv1a32(value + seed) % 1_000) / 1_000;
  return null;
}

export function getEqualWeights(count: number): number[] {
  if (count <= 0) return [];
  return new Array<number>(count).fill(1 / count);
}

/**
 * The range of the unit interval each variant occupies, given the share of traffic in the
 * experiment (`coverage`, clamped to 0..1) and the variant weights (equal when missing, of the
 * wrong length, or not summing to 1 ± 0.01).
 */
export function getBucketRanges(count: number, coverage: number | undefined, weights?: readonly number[]): VariationRange[] {
  const share = coverage === undefined ? 1 : Math.min(1, Math.max(0, coverage));
  const equal = getEqualWeights(count);
  let chosen: readonly number[] = weights ?? equal;
  if (chosen.length !== count) chosen = equal;
  const total = chosen.reduce((sum, weight) => sum + weight, 0);
  if (total < 0.99 || total > 1.01) chosen = equal;
  let cumulative = 0;
  return chosen.map((weight) => {
    const start = cumulative;
    cumulative += weight;
    return [start, start + share * weight] as const;
  });
}

/** The index of the range `n` falls in, or -1 when it falls in none (outside coverage). */
export function chooseVariation(n: number, ranges: readonly VariationRange[]): number {
  for (let index = 0; index < ranges.length; index++) {
    const range = ranges[index];
    if (range !== undefined && n >= range[0] && n < range[1]) return index;
  }
  return -1;
}

/** Whether a unit is in a namespace's `[start, end)` slice: mutually exclusive experiments share a namespace id. */
export function inNamespace(hashValue: string, namespace: readonly [string, number, number]): boolean {
  const n = hash(`__${namespace[0]}`, hashValue, 1);
  if (n === null) return false;
  return n >= namespace[1] && n < namespace[2];
}
