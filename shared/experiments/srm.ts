/**
 * Sample ratio mismatch: are the exposures per variant consistent with the planned split? A
 * chi-square goodness-of-fit test; a p-value below 0.001 (GrowthBook's threshold) means the
 * assignment or the logging is broken and the experiment's results should not be trusted.
 * @module
 */

const SRM_THRESHOLD = 0.001;

export interface SrmResult {
  chiSquare: number;
  degreesOfFreedom: number;
  pValue: number;
  flagged: boolean;
}

/** ln Γ(x), Lanczos approximation (g = 7, n = 9), good to ~15 digits for x > 0. */
function logGamma(x: number): number {
  const coefficients = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const shifted = x - 1;
  let sum = coefficients[0] ?? 0;
  for (let index = 1; index < 9; index++) sum += (coefficients[index] ?? 0) / (shifted + index);
  const t = shifted + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (shifted + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** Regularized upper incomplete gamma Q(a, x): series below a + 1, continued fraction above. */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 1_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return 1 - sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
  }
  // Lentz's method for the continued fraction.
  let b = x + 1 - a;
  let c = 1 / Number.MIN_VALUE;
  let d = 1 / b;
  let h = d;
  for (let n = 1; n < 1_000; n++) {
    const an = -n * (n - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < Number.MIN_VALUE) d = Number.MIN_VALUE;
    c = b + an / c;
    if (Math.abs(c) < Number.MIN_VALUE) c = Number.MIN_VALUE;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/** Tests observed exposures per variant against the planned weights (equal when not given). */
export function sampleRatioMismatch(observed: readonly number[], weights?: readonly number[]): SrmResult {
  const total = observed.reduce((sum, count) => sum + count, 0);
  const planned = weights !== undefined && weights.length === observed.length ? weights : observed.map(() => 1 / observed.length);
  const weightSum = planned.reduce((sum, weight) => sum + weight, 0);
  let chiSquare = 0;
  observed.forEach((count, index) => {
    const expected = (total * (planned[index] ?? 0)) / weightSum;
    if (expected > 0) chiSquare += (count - expected) ** 2 / expected;
  });
  const degreesOfFreedom = Math.max(1, observed.length - 1);
  const pValue = total === 0 ? 1 : gammaQ(degreesOfFreedom / 2, chiSquare / 2);
  return { chiSquare, degreesOfFreedom, pValue, flagged: total > 0 && pValue < SRM_THRESHOLD };
}
