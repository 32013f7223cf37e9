/**
 * Waiting for optional work (rules from KV, the visitor's profile, scoring models) no longer than a
 * deadline, so a slow dependency costs the page personalization, never time.
 * @module
 */

/** How long a piece of work may take, counted from the request's start. */
export interface Deadline {
  milliseconds: number;
  /** When the request started: the deadline counts from here. */
  startedAt: number;
  /** The timer is armed once this settles (at once when absent). */
  armWhen?: Promise<unknown>;
}

const ignore = () => undefined;

/**
 * Resolves to `work`'s value when it succeeds by the deadline, otherwise to `fallback`. The timer is
 * armed only if `work` is still pending when `armWhen` settles: a page arms it when the origin's
 * response arrives, so when the profile comes back first (the usual case) the page sets no timer.
 * A value that arrives after the deadline is never used, so the decision does not depend on how
 * fast the origin was.
 */
export async function withDeadline<T, F>(work: Promise<T>, deadline: Deadline, fallback: F): Promise<T | F> {
  const due = deadline.startedAt + deadline.milliseconds;
  let settled = false;
  const onTime = work
    .then(
      (value) => (Date.now() <= due ? value : fallback),
      () => fallback,
    )
    .finally(() => {
      settled = true;
    });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = (deadline.armWhen ?? Promise.resolve()).then(ignore, ignore).then(
    () =>
      new Promise<F>((resolve) => {
        if (!settled) timer = setTimeout(() => resolve(fallback), Math.max(0, due - Date.now()));
      }),
  );
  try {
    return await Promise.race([onTime, late]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
