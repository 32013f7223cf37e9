/**
 * Logistic-regression scorers: `score = 1 / (1 + e^-(intercept + Σ weight·attribute))`, over the
 * same attributes conditions read. A score lands at `models.<name>` so rules can target it
 * (`{"models.buyer_intent": {"$gte": 0.6}}`).
 * @module
 */
import { compilePath } from "../attribute-path.ts";

export interface LogisticDefinition {
  intercept: number;
  weights: Readonly<Record<string, number>>;
}

export type Scorer = (attributes: unknown) => number;

/** Booleans count as 0/1, numeric strings as numbers, anything else as 0. */
function numeric(value: unknown): number {
  if (typeof value === "number") return Number.isFinite(value) ? value : 0;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "string" && value.trim() !== "") {
    const number = Number(value);
    return Number.isFinite(number) ? number : 0;
  }
  return 0;
}

export function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/** Compiles a model once: attribute paths are split and bound ahead of scoring. */
export function compileLogistic(model: LogisticDefinition): Scorer {
  const terms = Object.entries(model.weights).map(([path, weight]) => ({ read: compilePath(path), weight }));
  return (attributes) => {
    let z = model.intercept;
    for (const { read, weight } of terms) z += weight * numeric(read(attributes));
    return sigmoid(z);
  };
}
