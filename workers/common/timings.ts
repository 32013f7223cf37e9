/**
 * Stage timings for the `Server-Timing` response header, so anyone can see in the browser's
 * network panel what personalization cost and which stage fell back.
 * @see https://www.w3.org/TR/server-timing/
 * @module
 */

export class Timings {
  readonly #entries: string[] = [];

  async measure<T>(name: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.#add(name, performance.now() - started);
    }
  }

  measureSync<T>(name: string, work: () => T): T {
    const started = performance.now();
    try {
      return work();
    } finally {
      this.#add(name, performance.now() - started);
    }
  }

  /** A marker without a duration, e.g. `fallback;desc="profile"`. */
  note(name: string, description: string): void {
    this.#entries.push(`${name};desc="${description.replace(/["\\]/g, "")}"`);
  }

  header(): string {
    return this.#entries.join(", ");
  }

  #add(name: string, milliseconds: number): void {
    this.#entries.push(`${name};dur=${milliseconds.toFixed(1)}`);
  }
}
