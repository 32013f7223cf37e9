/**
 * Every `[vars]` setting, parsed once per `env` by one zod schema into typed values the rest of the
 * code reads through `settings(env)` (never `env.X` directly). Defaults are the ones `wrangler.toml`
 * and the README name (`SETTING_DEFAULTS`). A missing or blank value means the default; an invalid
 * one also means the default, with one warning per isolate naming the setting, so a typo in a
 * setting never takes the site down.
 * @module
 */

import { MAX_EXPERIMENT_SHARDS } from "../../shared/experiments/stats-report.ts";
import { type ExcludedNames, excludedNames } from "../../shared/redact.ts";
import * as z from "../../shared/zod.ts";
import { SETTING_DEFAULTS } from "./config-defaults.ts";

/** A path Tailor claims: absolute, no trailing slash, only characters that need no escaping anywhere. */
const routePath = z.string().check(
  z.trim(),
  z.regex(/^(\/[A-Za-z0-9._~-]+)+$/),
  z.refine((path) => !path.split("/").some((segment) => segment === "." || segment === "..")),
);

/** A duration or count written as a decimal number, at least `min` and at most `max`. */
const number = (min: number, max: number) => z.coerce.number().check(z.gte(min), z.lte(max));
/** A duration or count written as a decimal number, above zero and at most `max`. */
const positive = (max: number) => z.coerce.number().check(z.gt(0), z.lte(max));
/** Text, trimmed. */
const text = () => z.string().check(z.trim());
const defaults = SETTING_DEFAULTS;

const Settings = z.object({
  /** The site Tailor fronts; the only host the page proxy contacts. */
  ORIGIN_URL: z.prefault(text(), ""),
  /** How long (milliseconds) the origin may take to answer a page request before the visitor gets a 504. */
  ORIGIN_TIMEOUT_MS: z.prefault(z.coerce.number().check(z.int(), z.gte(1), z.lte(300_000)), defaults.ORIGIN_TIMEOUT_MS),
  /** Where Tailor's visitor API (`/events`, `/decide`, `/profile`) is mounted. */
  API_PREFIX: z.prefault(routePath, defaults.API_PREFIX),
  /** Where the tracker script is served. */
  TRACKER_PATH: z.prefault(routePath, defaults.TRACKER_PATH),
  /** Base URL of the Kafka REST Proxy. */
  KAFKA_REST_URL: z.prefault(text(), ""),
  /** The proxy's API: "v2" (`POST /topics/{topic}`) or "v3" (records under a cluster). */
  KAFKA_REST_API: z.prefault(z.enum(["v2", "v3"]), defaults.KAFKA_REST_API),
  /** The v3 cluster id; empty for v2. */
  KAFKA_CLUSTER_ID: z.prefault(text(), ""),
  /** How long (milliseconds) a produce request may take before it counts as failed. */
  KAFKA_REST_TIMEOUT_MS: z.prefault(number(1, 300_000), defaults.KAFKA_REST_TIMEOUT_MS),
  KAFKA_TOPIC_EVENTS: z.prefault(z.string().check(z.trim(), z.minLength(1)), defaults.KAFKA_TOPIC_EVENTS),
  KAFKA_TOPIC_FEEDBACK: z.prefault(z.string().check(z.trim(), z.minLength(1)), defaults.KAFKA_TOPIC_FEEDBACK),
  /** Days without any event after which a visitor's state is deleted. */
  RETENTION_DAYS: z.prefault(positive(36_500), defaults.RETENTION_DAYS),
  /** Event property names never forwarded (comma-separated); blank means none. Matched by words. */
  EXCLUDED_PROPERTIES: z.pipe(
    z.prefault(z.string(), defaults.EXCLUDED_PROPERTIES),
    z.transform((setting): ExcludedNames => excludedNames(setting)),
  ),
  /** "honor": requests sending `Sec-GPC: 1` or `DNT: 1` are not tracked. "ignore": they are. */
  PRIVACY_SIGNALS: z.prefault(z.enum(["honor", "ignore"]), defaults.PRIVACY_SIGNALS),
  /** Deadlines (milliseconds) for the page path's stages. */
  PROFILE_DEADLINE_MS: z.prefault(positive(60_000), defaults.PROFILE_DEADLINE_MS),
  RULES_DEADLINE_MS: z.prefault(positive(60_000), defaults.RULES_DEADLINE_MS),
  MODELS_DEADLINE_MS: z.prefault(positive(60_000), defaults.MODELS_DEADLINE_MS),
  /** How often (milliseconds) an isolate re-reads the live rules pointer; 0 on every request. */
  RULES_REFRESH_MS: z.prefault(number(0, 3_600_000), defaults.RULES_REFRESH_MS),
  /** Cloudflare Access in front of `/admin`; all empty means not configured. */
  ACCESS_TEAM_DOMAIN: z.prefault(text(), defaults.ACCESS_TEAM_DOMAIN),
  ACCESS_AUD: z.prefault(text(), defaults.ACCESS_AUD),
  ACCESS_CERTS_URL: z.prefault(text(), defaults.ACCESS_CERTS_URL),
  /** Conversions are attributed to exposures within this many hours; more than a week counts as a week. */
  ATTRIBUTION_WINDOW_HOURS: z.prefault(
    z.pipe(
      z.coerce.number().check(z.gt(0)),
      z.transform((hours) => Math.min(hours, 24 * 7)),
    ),
    defaults.ATTRIBUTION_WINDOW_HOURS,
  ),
  /** First retry delay (seconds) when the proxy is unavailable; doubles per attempt. */
  DELIVERY_RETRY_BASE_SECONDS: z.prefault(number(1, 300), defaults.DELIVERY_RETRY_BASE_SECONDS),
  /** How old (milliseconds) the bandit counts a decision uses may get before they are re-read. */
  EXPERIMENT_STATS_TTL_MS: z.prefault(number(0, 3_600_000), defaults.EXPERIMENT_STATS_TTL_MS),
  /**
   * Over how many `ExperimentStats` objects a new experiment's counts are spread; at most 64. Read
   * at an experiment's first write and kept with it: changing it applies to experiments started after.
   */
  EXPERIMENT_STATS_SHARDS: z.prefault(
    z.pipe(
      z.coerce.number().check(z.int(), z.gt(0)),
      z.transform((shards) => Math.min(shards, MAX_EXPERIMENT_SHARDS)),
    ),
    defaults.EXPERIMENT_STATS_SHARDS,
  ),
  /** Decisions within this many milliseconds share one exposures message (0: one each); at most 1 s. */
  EXPOSURE_BATCH_MS: z.prefault(
    z.pipe(
      z.coerce.number().check(z.gte(0)),
      z.transform((milliseconds) => Math.min(milliseconds, 1_000)),
    ),
    defaults.EXPOSURE_BATCH_MS,
  ),
  /** How many ExposureMemory objects share the remembered exposures; at most 1,024. */
  EXPOSURE_MEMORY_SHARDS: z.prefault(
    z.pipe(
      z.coerce.number().check(z.int(), z.gt(0)),
      z.transform((shards) => Math.min(shards, 1_024)),
    ),
    defaults.EXPOSURE_MEMORY_SHARDS,
  ),
  /** Where every Durable Object lives: "none" (anywhere) or "eu". Fixed at the first deploy (docs/operations.md). */
  DATA_JURISDICTION: z.prefault(z.enum(["none", "eu"]), defaults.DATA_JURISDICTION),
  /** "implied": the visitor cookie is set on the first tracked request. "required": only after the consent cookie says so. */
  CONSENT_MODE: z.prefault(z.enum(["implied", "required"]), defaults.CONSENT_MODE),
  /** The cookie the site sets when the visitor consents ("1" or "true"); read only in "required" mode. */
  CONSENT_COOKIE: z.prefault(z.string().check(z.trim(), z.regex(/^[A-Za-z0-9_.-]{1,64}$/)), defaults.CONSENT_COOKIE),
  /** "token-or-access": token, editor sign-in and Access. "access-only": Cloudflare Access alone (people and service tokens). */
  ADMIN_AUTH: z.prefault(z.enum(["token-or-access", "access-only"]), defaults.ADMIN_AUTH),
});

/** The parsed settings, with defaults filled in. */
export type Settings = z.infer<typeof Settings>;
/** The name of a setting (a `[vars]` entry). */
export type SettingName = keyof typeof Settings.shape;

/** Settings where an empty value means something (no excluded names) rather than "the default". */
const BLANK_IS_A_VALUE: ReadonlySet<SettingName> = new Set(["EXCLUDED_PROPERTIES"]);

/** Tailor's own path prefixes, as the routes are written; requests are mapped onto these. */
export const INTERNAL_API_PREFIX = "/v1";
export const INTERNAL_TRACKER_PATH = "/t.js";
/** The editor and its API. Fixed: its pages link to it by this path. */
export const ADMIN_PREFIX = "/admin";

/**
 * Parses the settings out of `env`. A setting whose value does not parse is reported to `warn` (by
 * name only) and takes its default; the result is always complete.
 */
export function parseSettings(env: object, warn: (name: SettingName) => void = warnInvalid): Settings {
  const raw: Partial<Record<SettingName, unknown>> = {};
  for (const name of Object.keys(Settings.shape) as SettingName[]) {
    let value: unknown = Reflect.get(env, name);
    if (typeof value === "string" && value.trim() === "" && !BLANK_IS_A_VALUE.has(name)) value = undefined;
    if (value !== undefined && !z.safeParse(Settings.shape[name], value).success) {
      warn(name);
      value = undefined;
    }
    raw[name] = value;
  }
  // Every value left is valid or undefined (and so its default), so this cannot throw.
  return z.parse(Settings, raw);
}

function warnInvalid(name: SettingName): void {
  console.warn(JSON.stringify({ message: "invalid setting; using its default", setting: name }));
}

const parsed = new WeakMap<object, Settings>();

/** The settings for this deployment; parsed on first use per `env` object. */
export function settings(env: object): Settings {
  let value = parsed.get(env);
  if (value === undefined) {
    value = parseSettings(env);
    parsed.set(env, value);
  }
  return value;
}
