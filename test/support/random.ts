/**
 * A small seeded PRNG (mulberry32) for generated test cases: every run prints its seed, and
 * `TEST_SEED=<seed> npm test` replays exactly the same cases.
 */
import { inject } from "vitest";

export function seedForRun(): number {
  const given = inject("testSeed");
  return given === "" ? Date.now() % 2 ** 31 : Number(given);
}

export interface Random {
  (): number;
  int(max: number): number;
  pick<T>(items: readonly T[]): T;
  chance(probability: number): boolean;
}

export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (() => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }) as Random;
  next.int = (max) => Math.floor(next() * max);
  next.pick = (items) => items[Math.floor(next() * items.length)] as (typeof items)[number];
  next.chance = (probability) => next() < probability;
  return next;
}
