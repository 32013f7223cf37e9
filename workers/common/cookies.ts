/**
 * The names of the cookies Tailor sets or receives, in one place: the roles that set them (the
 * visitor id, the editor's session) and the page proxy, which must keep all of them from the origin,
 * read the same names.
 * @module
 */

/** The visitor's random id (first-party, `HttpOnly`, one year). */
export const VISITOR_COOKIE = "tailor_vid";

/** The signed digest of what the live rules read about the visitor (`HttpOnly`, an hour at most). */
export const DIGEST_COOKIE = "tailor_pd";

/** The editor's signed-in session, scoped to `/admin`. */
export const ADMIN_SESSION_COOKIE = "tailor_admin";

/** Cloudflare Access sets these for Tailor's admin; they are credentials for Tailor, not for the shop. */
export const ACCESS_COOKIES: readonly string[] = ["CF_Authorization", "CF_AppSession"];
