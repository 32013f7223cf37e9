/**
 * The documented default of every `[vars]` setting, as written in `wrangler.toml`. Kept apart from
 * the schema (`config.ts`) so Node-side checks can compare it with `wrangler.toml` and the README
 * without the Worker's types.
 * @module
 */

/** Each setting's default, as the text a deployment would write; the schema parses these. */
export const SETTING_DEFAULTS = {
  ORIGIN_TIMEOUT_MS: "10000",
  API_PREFIX: "/v1",
  TRACKER_PATH: "/t.js",
  KAFKA_REST_API: "v2",
  KAFKA_REST_TIMEOUT_MS: "10000",
  KAFKA_TOPIC_EVENTS: "tailor.events",
  KAFKA_TOPIC_FEEDBACK: "tailor.feedback",
  RETENTION_DAYS: "30",
  EXCLUDED_PROPERTIES: "email,phone,name,first_name,last_name,address,ip",
  PRIVACY_SIGNALS: "honor",
  PROFILE_DEADLINE_MS: "50",
  RULES_DEADLINE_MS: "200",
  MODELS_DEADLINE_MS: "50",
  RULES_REFRESH_MS: "5000",
  ACCESS_TEAM_DOMAIN: "",
  ACCESS_AUD: "",
  ACCESS_CERTS_URL: "",
  ATTRIBUTION_WINDOW_HOURS: "24",
  DELIVERY_RETRY_BASE_SECONDS: "2",
  EXPERIMENT_STATS_TTL_MS: "5000",
  EXPERIMENT_STATS_SHARDS: "8",
  EXPOSURE_BATCH_MS: "50",
  EXPOSURE_MEMORY_SHARDS: "4",
  DATA_JURISDICTION: "none",
  CONSENT_MODE: "implied",
  CONSENT_COOKIE: "tailor_consent",
  ADMIN_AUTH: "token-or-access",
} as const;

/**
 * Settings with no default: each deployment names its own origin and Kafka proxy, and
 * `wrangler.toml` holds the local-dev values.
 */
export const DEPLOYMENT_SETTINGS = ["ORIGIN_URL", "KAFKA_REST_URL", "KAFKA_CLUSTER_ID"] as const;
