/**
 * Settings that decide where Tailor's own routes live and how long the origin may take, parsed
 * once per `env` by one zod schema. A missing, empty or invalid value means the default (the same
 * one `wrangler.toml` and the README name), so a typo in a setting never takes the site down.
 * @module
 */
import * as z from "../../shared/zod.ts";

/** A path Tailor claims: absolute, no trailing slash, only characters that need no escaping anywhere. */
const routePath = z.string().check(
  z.trim(),
  z.regex(/^(\/[A-Za-z0-9._~-]+)+$/),
  z.refine((path) => !path.split("/").some((segment) => segment === "." || segment === "..")),
);

const Settings = z.object({
  /** Where Tailor's visitor API (`/events`, `/decide`, `/profile`) is mounted. */
  API_PREFIX: z.catch(routePath, "/v1"),
  /** Where the tracker script is served. */
  TRACKER_PATH: z.catch(routePath, "/t.js"),
  /** How long (milliseconds) the origin may take to answer a page request before the visitor gets a 504. */
  ORIGIN_TIMEOUT_MS: z.catch(z.coerce.number().check(z.int(), z.gte(1), z.lte(300_000)), 10_000),
});

/** The parsed settings, with defaults filled in. */
export type Settings = z.infer<typeof Settings>;

/** Tailor's own path prefixes, as the routes are written; requests are mapped onto these. */
export const INTERNAL_API_PREFIX = "/v1";
export const INTERNAL_TRACKER_PATH = "/t.js";
/** The editor and its API. Fixed: its pages link to it by this path. */
export const ADMIN_PREFIX = "/admin";

const parsed = new WeakMap<object, Settings>();

/** The settings for this deployment; parsed on first use per `env` object. */
export function settings(env: Partial<Pick<Env, "API_PREFIX" | "TRACKER_PATH" | "ORIGIN_TIMEOUT_MS">>): Settings {
  let value = parsed.get(env);
  if (value === undefined) {
    // Every field falls back to its default when missing, empty or invalid (`.catch`), so this cannot throw.
    value = Settings.parse({ API_PREFIX: env.API_PREFIX, TRACKER_PATH: env.TRACKER_PATH, ORIGIN_TIMEOUT_MS: env.ORIGIN_TIMEOUT_MS });
    parsed.set(env, value);
  }
  return value;
}
