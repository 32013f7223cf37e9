/**
 * Thompson sampling among an experiment's variants: each variant's click rate is a Beta posterior
 * over its observed successes and trials (uniform prior); sample each once and show the highest.
 * Variants that do better get chosen more often, yet every variant keeps some traffic while the
 * evidence is thin. Randomness is passed in, so tests and simulations are reproducible.
 * @module
 */

export interface VariantCounts {
  successes: number;
  trials: number;
}

/** A standard normal draw (Box–Muller). */
function normal(random: () => number): number {
  const u = Math.max(random(), Number.MIN_VALUE);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** A Gamma(shape, 1) draw (Marsaglia–Tsang; boosted for shape < 1). */
function gamma(shape: number, random: () => number): number {
  if (shape < 1) return gamma(shape + 1, random) * random() ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = random();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** A Beta(alpha, beta) draw. */
function sampleBeta(alpha: number, beta: number, random: () => number): number {
  const x = gamma(alpha, random);
  const y = gamma(beta, random);
  return x / (x + y);
}

/** The index of the variant whose posterior draw is highest. */
export function thompsonChoice(counts: readonly VariantCounts[], random: () => number): number {
  let best = 0;
  let bestDraw = -1;
  counts.forEach(({ successes, trials }, index) => {
    const wins = Math.max(0, successes);
    const losses = Math.max(0, trials - wins);
    const draw = sampleBeta(wins + 1, losses + 1, random);
    if (draw > bestDraw) {
      bestDraw = draw;
      best = index;
    }
  });
  return best;
}

/** How many posterior draws estimate a bandit's allocation; the estimate is what is used, so it is exact as planned. */
export const ALLOCATION_DRAWS = 2_000;

/**
 * The share of traffic Thompson sampling gives each variant under `counts`: the probability that
 * its posterior draw is the highest, estimated from `draws` rounds of draws. Assigning by these
 * shares (probability matching) sends traffic as Thompson sampling would, and makes each
 * assignment's probability known, so the sample ratio check can compare with what was planned.
 * Every share is a multiple of 1 / `draws` and they add up to 1.
 */
export function allocationProbabilities(counts: readonly VariantCounts[], random: () => number, draws = ALLOCATION_DRAWS): number[] {
  const wins = counts.map(() => 0);
  for (let round = 0; round < draws; round++) {
    const index = thompsonChoice(counts, random);
    wins[index] = (wins[index] ?? 0) + 1;
  }
  return wins.map((count) => count / draws);
}

/** The index whose cumulative share first exceeds a uniform draw in [0, 1). */
export function chooseByShares(shares: readonly number[], draw: number): number {
  let cumulative = 0;
  for (const [index, share] of shares.entries()) {
    cumulative += share;
    if (draw < cumulative) return index;
  }
  // Rounding may leave the sum a hair under 1: the last variant with any share takes the rest.
  for (let index = shares.length - 1; index >= 0; index--) if ((shares[index] ?? 0) > 0) return index;
  return 0;
}
