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
