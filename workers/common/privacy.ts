/**
 * The browser's privacy signals: Global Privacy Control (`Sec-GPC: 1`) and Do Not Track
 * (`DNT: 1`). With `PRIVACY_SIGNALS = "honor"` (the default), a request carrying either is
 * neither tracked nor personalized from stored state.
 * @see https://privacycg.github.io/gpc-spec/
 * @module
 */
import { settings } from "./config.ts";

/** True when this request carries a privacy signal the deployment honours. */
export function honoursPrivacySignal(request: Request, env: object): boolean {
  if (settings(env).PRIVACY_SIGNALS === "ignore") return false;
  return request.headers.get("sec-gpc")?.trim() === "1" || request.headers.get("dnt")?.trim() === "1";
}
