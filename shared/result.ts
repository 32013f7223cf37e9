/**
 * Expected outcomes of pure code are values, not exceptions: a function that can fail for a
 * reason the caller should handle returns a `Result` with a tagged error.
 * @module
 */

export type Result<T, E> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export function ok<T>(value: T): { readonly ok: true; readonly value: T } {
  return { ok: true, value };
}

export function err<E>(error: E): { readonly ok: false; readonly error: E } {
  return { ok: false, error };
}
