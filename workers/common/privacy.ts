/**
 * The visitor's privacy choices. Two things stop tracking: the browser's signals — Global Privacy
 * Control (`Sec-GPC: 1`) and Do Not Track (`DNT: 1`), honoured with `PRIVACY_SIGNALS = "honor"`
 * (the default) — and, with `CONSENT_MODE = "required"`, the absence of the site's consent cookie
 * (`CONSENT_COOKIE`, set by the site's consent banner to "1" or "true"). An untracked request gets
 * no visitor cookie, stores nothing and is not personalized from stored state.
 * @see https://privacycg.github.io/gpc-spec/
 * @module
 */
import { parse } from "hono/utils/cookie";
import { settings } from "./config.ts";

/** True when this request carries a privacy signal the deployment honours. */
export function honoursPrivacySignal(request: Request, env: object): boolean {
  if (settings(env).PRIVACY_SIGNALS === "ignore") return false;
  return request.headers.get("sec-gpc")?.trim() === "1" || request.headers.get("dnt")?.trim() === "1";
}

const CONSENT_GIVEN = new Set(["1", "true"]);

/** True when the deployment requires consent and this request's consent cookie does not give it. */
export function lacksConsent(request: Request, env: object): boolean {
  const { CONSENT_MODE, CONSENT_COOKIE } = settings(env);
  if (CONSENT_MODE !== "required") return false;
  const value = parse(request.headers.get("cookie") ?? "", CONSENT_COOKIE)[CONSENT_COOKIE];
  return value === undefined || !CONSENT_GIVEN.has(value.trim().toLowerCase());
}

/** Why this request must not be tracked, or null when it may be. */
export function untrackedReason(request: Request, env: object): "privacy-signal" | "consent-missing" | null {
  if (honoursPrivacySignal(request, env)) return "privacy-signal";
  if (lacksConsent(request, env)) return "consent-missing";
  return null;
}
