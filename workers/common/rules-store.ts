/**
 * The live rules, held in isolate memory and compiled once per version. A request never waits on
 * KV except the very first in a fresh isolate: after `REFRESH_INTERVAL_MS` the next request still
 * uses the rules it has and checks the KV pointer in the background. A pointer or document that
 * fails validation is reported and the last good version keeps serving.
 * @module
 */

import { err } from "../../shared/result.ts";
import { type CompiledRules, compileRules } from "../../shared/rules/compile.ts";
import { LivePointer, RULES_LIVE_KEY, rulesVersionKey } from "../../shared/rules/document.ts";
import { recordRulesRefused } from "./analytics.ts";
import { type DocumentProblem, validateDocument } from "./validate.ts";

/** Where the rules come from and where a refused document is counted. */
export type RulesSource = Pick<Env, "RULES" | "ANALYTICS">;

/** How old the isolate's copy of the live pointer may get before it is re-read (`RULES_REFRESH_MS`). */
const REFRESH_INTERVAL_MS = 5_000;

interface Held {
  rules: CompiledRules | null;
  checkedAt: number;
}

let held: Held | undefined;
/** The most recent live document that failed validation, for the admin UI and logs. */
let lastProblem: { version: number; problems: DocumentProblem[]; at: string } | undefined;
let refreshing: Promise<CompiledRules | null> | undefined;
/** Set while the live pointer in KV is not `{"version": n}` (a hand edit gone wrong). */
let pointerProblem: { detail: string; at: string } | undefined;

function parseOrUndefined(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A stored version as read from KV: its parsed JSON, or why it cannot be read. */
export type StoredVersion = { ok: true; value: unknown } | { ok: false; reason: "missing" | "not-json" };

/** The problem reported for a version that cannot be read at all. */
function unreadableVersion(reason: "missing" | "not-json"): DocumentProblem {
  return { pointer: "", message: reason === "missing" ? "the version is not in KV" : "the stored value is not JSON" };
}

/**
 * Reads one version's JSON from KV without trusting it to be JSON (a hand-written key may hold
 * anything). Validation of the document is the caller's.
 */
export async function readVersion(kv: KVNamespace, version: number): Promise<StoredVersion> {
  if (!Number.isInteger(version) || version <= 0) return { ok: false, reason: "missing" };
  const text = await kv.get(rulesVersionKey(version), "text");
  if (text === null) return { ok: false, reason: "missing" };
  const value = parseOrUndefined(text);
  return value === undefined ? { ok: false, reason: "not-json" } : { ok: true, value };
}

async function readLive(source: RulesSource, current: CompiledRules | null): Promise<CompiledRules | null> {
  const kv = source.RULES;
  // Read as text: someone may have put anything under the key with `wrangler kv key put`.
  const rawPointer = await kv.get(RULES_LIVE_KEY, "text");
  const pointer = LivePointer.safeParse(parseOrUndefined(rawPointer));
  if (!pointer.success) {
    // No pointer at all is a project that has not published yet; a pointer that does not parse is a mistake.
    if (rawPointer !== null) {
      pointerProblem = {
        detail: `${RULES_LIVE_KEY} is not {"version": n}; publish or roll back to repair it`,
        at: new Date().toISOString(),
      };
      console.error(JSON.stringify({ message: "rules pointer invalid; keeping last good version", serving: current?.version ?? null }));
      recordRulesRefused(source.ANALYTICS, 0, current?.version ?? null, `${RULES_LIVE_KEY}: pointer is not {"version": n}`);
    } else pointerProblem = undefined;
    return current;
  }
  pointerProblem = undefined;
  if (current !== null && current.version === pointer.data.version) {
    lastProblem = undefined; // the pointer is back on a good version (a rollback after a refusal)
    return current;
  }
  const raw = await readVersion(kv, pointer.data.version);
  const document = raw.ok ? validateDocument(raw.value) : err([unreadableVersion(raw.reason)]);
  if (!document.ok) {
    lastProblem = { version: pointer.data.version, problems: document.error.slice(0, 20), at: new Date().toISOString() };
    console.error(
      JSON.stringify({ message: "rules document invalid; keeping last good version", ...lastProblem, serving: current?.version ?? null }),
    );
    const first = lastProblem.problems[0];
    recordRulesRefused(
      source.ANALYTICS,
      pointer.data.version,
      current?.version ?? null,
      first ? `${first.pointer}: ${first.message}` : "missing",
    );
    return current;
  }
  lastProblem = undefined;
  return compileRules(document.value);
}

function refresh(source: RulesSource, now: number): Promise<CompiledRules | null> {
  refreshing ??= readLive(source, held?.rules ?? null)
    .then((rules) => {
      held = { rules, checkedAt: now };
      return rules;
    })
    .finally(() => {
      refreshing = undefined;
    });
  return refreshing;
}

/**
 * The live compiled rules from isolate memory (null: none published or none valid), refreshed in
 * the background when stale; `undefined` when this isolate has not loaded them yet.
 */
export function heldRules(
  source: RulesSource,
  now: number,
  waitUntil: (promise: Promise<unknown>) => void,
  refreshIntervalMs = REFRESH_INTERVAL_MS,
): CompiledRules | null | undefined {
  if (held === undefined) return undefined;
  if (now - held.checkedAt >= refreshIntervalMs && refreshing === undefined) {
    waitUntil(
      refresh(source, now).catch((error: unknown) =>
        console.error(JSON.stringify({ message: "rules refresh failed", error: String(error) })),
      ),
    );
  }
  return held.rules;
}

/** The live compiled rules, loading them from KV when this isolate has none yet. */
export async function liveRules(
  source: RulesSource,
  now: number,
  waitUntil: (promise: Promise<unknown>) => void,
  refreshIntervalMs = REFRESH_INTERVAL_MS,
): Promise<CompiledRules | null> {
  return heldRules(source, now, waitUntil, refreshIntervalMs) ?? refresh(source, now);
}

/** Drops the isolate's copy so the next request reads KV again (after a publish in this isolate, and in tests). */
export function forgetRules(): void {
  held = undefined;
}

/** What is serving, the last live document that was refused (if any), and a live pointer that does not parse. */
export function rulesStatus(): { serving: number | null; refused: typeof lastProblem; pointer: typeof pointerProblem } {
  return { serving: held?.rules?.version ?? null, refused: lastProblem, pointer: pointerProblem };
}

/**
 * The rules serving now, after reading the KV pointer (bypassing the isolate's refresh interval, so
 * the admin sees another isolate's publish at once). An invalid live document is refused exactly as
 * for visitors: the answer is then the last good version this isolate holds.
 */
export async function readLiveDocument(source: RulesSource): Promise<{ version: number; document: CompiledRules["document"] } | null> {
  const rules = await refresh(source, Date.now());
  return rules === null ? null : { version: rules.version, document: rules.document };
}
