/**
 * One default per setting: the schema's (`SETTING_DEFAULTS`, which `workers/common/config.ts`
 * parses), `wrangler.toml`'s `[vars]` and the README's configuration table all name the same value.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEPLOYMENT_SETTINGS, SETTING_DEFAULTS } from "../../workers/common/config-defaults.ts";

const root = new URL("../../", import.meta.url);

/** `[vars]` of wrangler.toml: `NAME = "value"` lines up to the next table (the file uses only these). */
function wranglerVars(): Map<string, string> {
  const text = readFileSync(new URL("wrangler.toml", root), "utf8");
  const section = text.split(/^\[vars\]$/m)[1]?.split(/^\[/m)[0] ?? "";
  const vars = new Map<string, string>();
  for (const line of section.split("\n")) {
    const match = /^([A-Z][A-Z0-9_]*)\s*=\s*"([^"]*)"\s*$/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) vars.set(match[1], match[2]);
  }
  return vars;
}

/** The README table's rows for one var: `| \`NAME\` | kind, default \`value\` | … |`. */
function readmeKinds(): Map<string, string> {
  const text = readFileSync(new URL("README.md", root), "utf8");
  const kinds = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^\| `([A-Z][A-Z0-9_]*)` \| ([^|]*) \|/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) kinds.set(match[1], match[2]);
  }
  return kinds;
}

function readmeDefault(kind: string): string | null {
  if (/\bdefault empty\b/.test(kind)) return "";
  return /\bdefault `([^`]*)`/.exec(kind)?.[1] ?? null;
}

const vars = wranglerVars();
const defaulted = Object.entries(SETTING_DEFAULTS);

describe("setting defaults", () => {
  it("finds the vars it compares", () => {
    expect(vars.size).toBeGreaterThan(20);
  });

  it("covers every [vars] entry of wrangler.toml: each has a default or is one a deployment must set", () => {
    const known = new Set<string>([...Object.keys(SETTING_DEFAULTS), ...DEPLOYMENT_SETTINGS]);
    expect([...vars.keys()].filter((name) => !known.has(name))).toEqual([]);
    expect([...known].filter((name) => !vars.has(name))).toEqual([]);
  });

  it.each(defaulted)("%s: wrangler.toml sets the schema's default", (name, value) => {
    expect(vars.get(name)).toBe(value);
  });

  it.each(defaulted)("%s: the README's table names the schema's default", (name, value) => {
    const kind = readmeKinds().get(name);
    expect(kind, `no README row for ${name}`).toBeDefined();
    expect(readmeDefault(kind ?? "")).toBe(value);
  });

  it.each(DEPLOYMENT_SETTINGS)("%s: the README says it has no default", (name) => {
    expect(readmeKinds().get(name)).toMatch(/\bno default\b/);
  });
});
