/**
 * The browser's privacy signals: Global Privacy Control (`Sec-GPC: 1`) and Do Not Track
 * (`DNT: 1`). With `PRIVACY_SIGNALS = "honor"` (the default), a request carrying either is
 * neither tracked nor personalized from stored state.
 * @see https://privacycg.github.io/gpc-spec/
 * @module
 */

/** True when this request carries a privacy signal the deployment honours. */
export function honoursPrivacySignal(request: Request, env: Pick<Env, "PRIVACY_SIGNALS">): boolean {
  if (env.PRIVACY_SIGNALS === "ignore") return false;
  return request.headers.get("sec-gpc")?.trim() === "1" || request.headers.get("dnt")?.trim() === "1";
}
