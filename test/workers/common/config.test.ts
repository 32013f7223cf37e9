/**
 * Settings: one schema parses every var once per `env`; missing, blank and invalid values take the
 * documented default (invalid ones with a warning naming the setting), and never throw.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { exposureShard } from "../../../durable-objects/exposure-memory.ts";
import { parseSettings, type SettingName, settings } from "../../../workers/common/config.ts";
import { SETTING_DEFAULTS } from "../../../workers/common/config-defaults.ts";

afterEach(() => {
  vi.restoreAllMocks();
});

function comparable(parsed: ReturnType<typeof parseSettings>) {
  const { EXCLUDED_PROPERTIES, ...rest } = parsed;
  return {
    ...rest,
    excludes: ["email", "customerEmail", "ip_address", "shipping", "first_name", "color"].map((name) => EXCLUDED_PROPERTIES.has(name)),
  };
}

describe("defaults", () => {
  it("parsing nothing gives the same settings as parsing the documented defaults", () => {
    const warn = vi.fn();
    expect(comparable(parseSettings({}, warn))).toEqual(comparable(parseSettings(SETTING_DEFAULTS, warn)));
    expect(warn).not.toHaveBeenCalled();
  });

  it.each([
    ["missing", {}],
    ["blank", { EXPOSURE_MEMORY_SHARDS: " " }],
    ["invalid", { EXPOSURE_MEMORY_SHARDS: "many" }],
  ])("spreads remembered exposures over the documented 4 shards when the setting is %s", (_, overrides) => {
    const { EXPOSURE_MEMORY_SHARDS: _configured, ...rest } = env;
    const unconfigured = { ...rest, ...overrides } as unknown as Env;
    const names = Array.from({ length: 200 }, (_, index) => `shardProbe${String(index).padStart(8, "0")}`);
    const shards = new Set(names.map((name) => exposureShard(unconfigured, name)));
    expect([...shards].sort()).toEqual(["shard-0", "shard-1", "shard-2", "shard-3"]);
  });

  it("excludes the documented personal-data names when EXCLUDED_PROPERTIES is missing, none when it is blank", () => {
    expect(parseSettings({}).EXCLUDED_PROPERTIES.has("customerEmail")).toBe(true);
    expect(parseSettings({ EXCLUDED_PROPERTIES: "" }).EXCLUDED_PROPERTIES.has("customerEmail")).toBe(false);
  });
});

describe("invalid values", () => {
  const cases: [SettingName, unknown][] = [
    ["ORIGIN_TIMEOUT_MS", "0"],
    ["ORIGIN_TIMEOUT_MS", "ten seconds"],
    ["ORIGIN_TIMEOUT_MS", "1e9"],
    ["ORIGIN_TIMEOUT_MS", "2.5"],
    ["API_PREFIX", "v1"],
    ["API_PREFIX", "/"],
    ["API_PREFIX", "/tailor/../admin"],
    ["API_PREFIX", "/a b"],
    ["TRACKER_PATH", "t.js"],
    ["KAFKA_REST_API", "v4"],
    ["KAFKA_REST_API", "V3 "],
    ["KAFKA_REST_TIMEOUT_MS", "-1"],
    ["KAFKA_REST_TIMEOUT_MS", "Infinity"],
    ["RETENTION_DAYS", "soon"],
    ["RETENTION_DAYS", "0"],
    ["RETENTION_DAYS", "-30"],
    ["RETENTION_DAYS", "NaN"],
    ["PRIVACY_SIGNALS", "off"],
    ["PRIVACY_SIGNALS", "Ignore"],
    ["PROFILE_DEADLINE_MS", "0"],
    ["PROFILE_DEADLINE_MS", "-50"],
    ["RULES_DEADLINE_MS", "fast"],
    ["MODELS_DEADLINE_MS", "1e12"],
    ["RULES_REFRESH_MS", "-1"],
    ["RULES_REFRESH_MS", "often"],
    ["ATTRIBUTION_WINDOW_HOURS", "0"],
    ["ATTRIBUTION_WINDOW_HOURS", "a day"],
    ["DELIVERY_RETRY_BASE_SECONDS", "0"],
    ["DELIVERY_RETRY_BASE_SECONDS", "3600"],
    ["EXPERIMENT_STATS_TTL_MS", "-5"],
    ["EXPOSURE_BATCH_MS", "-1"],
    ["EXPOSURE_BATCH_MS", "soon"],
    ["EXPOSURE_MEMORY_SHARDS", "0"],
    ["EXPOSURE_MEMORY_SHARDS", "2.5"],
    ["EXPOSURE_MEMORY_SHARDS", "-4"],
    ["EXPOSURE_MEMORY_SHARDS", "4 shards"],
    ["EXPOSURE_MEMORY_SHARDS", { shards: 4 }],
  ];

  it.each(cases)("%s = %j takes the default and warns, naming only the setting", (name, value) => {
    const warn = vi.fn();
    const parsed = parseSettings({ [name]: value }, warn);
    expect(comparable(parsed)).toEqual(comparable(parseSettings({})));
    expect(warn).toHaveBeenCalledExactlyOnceWith(name);
  });

  it("logs one warning per environment, without the value, however often the settings are read", () => {
    const log = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const broken = { RETENTION_DAYS: "thirty-secret-days" };
    for (let read = 0; read < 5; read++) expect(settings(broken).RETENTION_DAYS).toBe(30);
    expect(log).toHaveBeenCalledTimes(1);
    expect(String(log.mock.calls[0]?.[0])).toContain("RETENTION_DAYS");
    expect(String(log.mock.calls[0]?.[0])).not.toContain("secret");
  });
});

describe("valid values", () => {
  it.each([
    ["RETENTION_DAYS", " 7 ", 7],
    ["ORIGIN_TIMEOUT_MS", "2500", 2_500],
    ["RULES_REFRESH_MS", "0", 0],
    ["RULES_REFRESH_MS", 0, 0],
    ["EXPOSURE_BATCH_MS", "0", 0],
    ["EXPOSURE_BATCH_MS", "5000", 1_000],
    ["ATTRIBUTION_WINDOW_HOURS", "1000", 168],
    ["ATTRIBUTION_WINDOW_HOURS", "0.5", 0.5],
    ["EXPOSURE_MEMORY_SHARDS", "5000", 1_024],
    ["PRIVACY_SIGNALS", "ignore", "ignore"],
    ["KAFKA_REST_API", "v3", "v3"],
    ["API_PREFIX", "/tailor/v1", "/tailor/v1"],
  ] as const)("%s = %j is %j", (name, value, expected) => {
    const warn = vi.fn();
    expect(parseSettings({ [name]: value }, warn)[name]).toBe(expected);
    expect(warn).not.toHaveBeenCalled();
  });
});
