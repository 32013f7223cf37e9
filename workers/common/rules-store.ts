/**
 * The live rules, held in isolate memory and compiled once per version. A request never waits on
 * KV except the very first in a fresh isolate: after `REFRESH_INTERVAL_MS` the next request still
 * uses the rules it has and checks the KV pointer in the background. A pointer that does not parse,
 * or a version that is not signed by this deployment's publish (shared/rules/signature.ts) or does not parse,
 * is reported and the last good version keeps serving. Signed versions were validated in full at
 * publish, so they are only parsed for shape here, and their patterns and card templates compiled
 * without the regex analyser or the HTML parser (docs/decisions/0016-admin-worker-signed-rules.md). The pointer also carries
 * the kill switch and a guarded rollout (decision 0013); they are held and refreshed with the rules.
 * @module
 */

import { pointerOf } from "../../shared/json-pointer.ts";
import { err, ok, type Result } from "../../shared/result.ts";
import { type CompiledRules, compileRules } from "../../shared/rules/compile.ts";
import { trustedRegex } from "../../shared/rules/condition-compiler.ts";
import { type KillSwitchState, LivePointer, type RolloutState, RULES_LIVE_KEY, RulesDocument } from "../../shared/rules/document.ts";
import { recordRulesRefused } from "./analytics.ts";
import { readStoredVersion, type StoredVersion } from "./signed-rules.ts";

/** Where the rules come from, the key their signatures are checked with, and where a refused document is counted. */
export type RulesSource = Pick<Env, "RULES" | "ANALYTICS" | "RULES_SIGNING_KEY">;

/** Why a stored document is not used: a JSON pointer into it (empty for the whole) and the reason. */
export interface DocumentProblem {
  pointer: string;
  message: string;
}

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

/** The problem reported for a version that cannot be read at all. */
function unreadableVersion(reason: "missing" | "not-json"): DocumentProblem {
  return { pointer: "", message: reason === "missing" ? "the version is not in KV" : "the stored value is not JSON" };
}

/**
 * Reads one version from KV: its document unwrapped and whether its signature holds. Anything may
 * sit under the key (a hand edit), so nothing is trusted before the signature is checked.
 */
export function readVersion(source: Pick<Env, "RULES" | "RULES_SIGNING_KEY">, version: number): Promise<StoredVersion> {
  return readStoredVersion(source, version);
}

const UNSIGNED: DocumentProblem = {
  pointer: "",
  message:
    "the version does not carry this deployment's publish signature (written into KV by hand, altered after publish, or signed with another key); publish it through the admin to serve it",
};

/**
 * A signed version ready to compile, or why it is refused. Only the shape is parsed: the signature
 * vouches for the rest of the validation, which ran at publish.
 */
function trustedDocument(stored: StoredVersion, version: number): Result<RulesDocument, DocumentProblem[]> {
  if (!stored.ok) return err([unreadableVersion(stored.reason)]);
  if (!stored.signed) return err([UNSIGNED]);
  const parsed = RulesDocument.safeParse(stored.value);
  if (!parsed.success) return err(parsed.error.issues.map((issue) => ({ pointer: pointerOf(issue.path), message: issue.message })));
  if (parsed.data.version !== version) return err([{ pointer: "/version", message: `the document says version ${parsed.data.version}` }]);
  return ok(parsed.data);
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
  const stored = await readVersion(source, version);
  const document = trustedDocument(stored, version);
  if (!document.ok) {
    lastProblem = { version, problems: document.error.slice(0, 20), at: new Date().toISOString() };
    console.error(JSON.stringify({ message: "rules document invalid; keeping last good version", ...lastProblem, serving }));
    const first = lastProblem.problems[0];
    recordRulesRefused(source.ANALYTICS, version, serving, first ? `${first.pointer}: ${first.message}` : "missing");
    return null;
  }
  const templates = stored.ok ? stored.templates : {};
  return compileRules(document.value, {
    regex: trustedRegex,
    template: (source) => (Object.hasOwn(templates, source) ? (templates[source] ?? null) : null),
  });
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
