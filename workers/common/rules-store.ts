/**
 * The live rules, held in isolate memory and compiled once per version. A request never waits on
 * KV except the very first in a fresh isolate: after `REFRESH_INTERVAL_MS` the next request still
 * uses the rules it has and checks the KV pointer in the background. A pointer or document that
 * fails validation is reported and the last good version keeps serving. The pointer also carries
 * the kill switch and a guarded rollout (decision 0013); they are held and refreshed with the rules.
 * @module
 */

import { err } from "../../shared/result.ts";
import { type CompiledRules, compileRules } from "../../shared/rules/compile.ts";
import { type KillSwitchState, LivePointer, type RolloutState, RULES_LIVE_KEY, rulesVersionKey } from "../../shared/rules/document.ts";
import { recordRulesRefused } from "./analytics.ts";
import { type DocumentProblem, validateDocument } from "./validate.ts";

/** Where the rules come from and where a refused document is counted. */
export type RulesSource = Pick<Env, "RULES" | "ANALYTICS">;

/** How old the isolate's copy of the live pointer may get before it is re-read (`RULES_REFRESH_MS`). */
const REFRESH_INTERVAL_MS = 5_000;

/**
 * Everything the live pointer says, as one isolate holds it: the live rules, the kill switch, and a
 * guarded rollout's candidate (compiled, with its share and salt). All three change on the same
 * refresh, so an isolate never sees a half-applied switch.
 */
export interface LiveState {
  rules: CompiledRules | null;
  killSwitch: KillSwitchState | null;
  rollout: { state: RolloutState; rules: CompiledRules } | null;
}

const NOTHING_LIVE: LiveState = { rules: null, killSwitch: null, rollout: null };

interface Held {
  state: LiveState;
  checkedAt: number;
}

let held: Held | undefined;
/** The most recent live document that failed validation, for the admin UI and logs. */
let lastProblem: { version: number; problems: DocumentProblem[]; at: string } | undefined;
let refreshing: Promise<unknown> | undefined;
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

/** A version compiled, reusing what this isolate holds; null (reported) when it is missing or invalid. */
async function compiledVersion(
  source: RulesSource,
  version: number,
  held: readonly (CompiledRules | null | undefined)[],
  serving: number | null,
) {
  const reuse = held.find((rules) => rules?.version === version);
  if (reuse) return reuse;
  const raw = await readVersion(source.RULES, version);
  const document = raw.ok ? validateDocument(raw.value) : err([unreadableVersion(raw.reason)]);
  if (!document.ok) {
    lastProblem = { version, problems: document.error.slice(0, 20), at: new Date().toISOString() };
    console.error(JSON.stringify({ message: "rules document invalid; keeping last good version", ...lastProblem, serving }));
    const first = lastProblem.problems[0];
    recordRulesRefused(source.ANALYTICS, version, serving, first ? `${first.pointer}: ${first.message}` : "missing");
    return null;
  }
  return compileRules(document.value);
}

async function readLive(source: RulesSource, current: LiveState): Promise<LiveState> {
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
      console.error(
        JSON.stringify({ message: "rules pointer invalid; keeping last good version", serving: current.rules?.version ?? null }),
      );
      recordRulesRefused(source.ANALYTICS, 0, current.rules?.version ?? null, `${RULES_LIVE_KEY}: pointer is not {"version": n}`);
    } else pointerProblem = undefined;
    return current;
  }
  pointerProblem = undefined;
  const { version, killSwitch, rollout } = pointer.data;
  const serving = current.rules?.version ?? null;
  const heldVersions = [current.rules, current.rollout?.rules];
  let rules = current.rules;
  if (serving === version)
    lastProblem = undefined; // the pointer is back on a good version (a rollback after a refusal)
  else {
    const loaded = await compiledVersion(source, version, heldVersions, serving);
    if (loaded !== null) {
      lastProblem = undefined;
      rules = loaded;
    }
  }
  // A candidate that cannot be read is not rolled out: everyone keeps the live version.
  const candidate = rollout === undefined ? null : await compiledVersion(source, rollout.version, heldVersions, serving);
  return {
    rules,
    killSwitch: killSwitch ?? null,
    rollout: rollout === undefined || candidate === null ? null : { state: rollout, rules: candidate },
  };
}

/** Reads the pointer (and the documents it names) for the request that awaits the answer. */
async function load(source: RulesSource, now: number): Promise<LiveState> {
  const state = await readLive(source, held?.state ?? NOTHING_LIVE);
  held = { state, checkedAt: now };
  return state;
}

/**
 * The background refresh, one at a time per isolate. Only `waitUntil` holds this promise: a request
 * that awaited it would wait on another request's KV reads, and workerd cancels such a request as
 * hung once the other one ends (seen under the simulator's load on the admin report).
 */
function refreshInBackground(source: RulesSource, now: number): Promise<unknown> {
  refreshing ??= load(source, now).finally(() => {
    refreshing = undefined;
  });
  return refreshing;
}

/**
 * The live state from isolate memory, refreshed in the background when stale; `undefined` when this
 * isolate has not loaded it yet.
 */
export function heldLive(
  source: RulesSource,
  now: number,
  waitUntil: (promise: Promise<unknown>) => void,
  refreshIntervalMs = REFRESH_INTERVAL_MS,
): LiveState | undefined {
  if (held === undefined) return undefined;
  if (now - held.checkedAt >= refreshIntervalMs && refreshing === undefined) {
    waitUntil(
      refreshInBackground(source, now).catch((error: unknown) =>
        console.error(JSON.stringify({ message: "rules refresh failed", error: String(error) })),
      ),
    );
  }
  return held.state;
}

/** The live state, loading it from KV when this isolate has none yet. */
export async function liveState(
  source: RulesSource,
  now: number,
  waitUntil: (promise: Promise<unknown>) => void,
  refreshIntervalMs = REFRESH_INTERVAL_MS,
): Promise<LiveState> {
  return heldLive(source, now, waitUntil, refreshIntervalMs) ?? load(source, now);
}

/** Drops the isolate's copy so the next request reads KV again (after a publish in this isolate, and in tests). */
export function forgetRules(): void {
  held = undefined;
}

/** What is serving, the last live document that was refused (if any), and a live pointer that does not parse. */
export function rulesStatus(): {
  serving: number | null;
  refused: typeof lastProblem;
  pointer: typeof pointerProblem;
  checkedAt: number | null;
} {
  return { serving: held?.state.rules?.version ?? null, refused: lastProblem, pointer: pointerProblem, checkedAt: held?.checkedAt ?? null };
}

/**
 * The rules serving now, after reading the KV pointer (bypassing the isolate's refresh interval, so
 * the admin sees another isolate's publish at once). An invalid live document is refused exactly as
 * for visitors: the answer is then the last good version this isolate holds.
 */
export async function readLiveDocument(source: RulesSource): Promise<{ version: number; document: CompiledRules["document"] } | null> {
  const { rules } = await load(source, Date.now());
  return rules === null ? null : { version: rules.version, document: rules.document };
}
