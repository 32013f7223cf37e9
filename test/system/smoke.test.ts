/**
 * `npm run smoke` against a running Tailor (the built Worker on Miniflare with the demo shop), in
 * the default mode and with consent required: every check passes, and a Tailor whose admin API
 * answered without credentials would fail it.
 */
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import rules from "../../demo-shop/rules.json" with { type: "json" };
import { type System, startSystem } from "../support/system.ts";

function smoke(url: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "scripts/smoke.ts", "--url", url], (error, stdout) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout });
    });
  });
}

describe.each([
  ["the default settings", {}],
  ["consent required", { CONSENT_MODE: "required" }],
])("npm run smoke with %s", (_, bindings) => {
  let system: System;
  beforeAll(async () => {
    system = await startSystem(rules, bindings);
  }, 180_000);
  afterAll(async () => {
    await system.close();
  });

  it("passes every check", { timeout: 120_000 }, async () => {
    const result = await smoke(system.tailor.url);
    expect(result.stdout).not.toContain("FAIL");
    expect(result.stdout).toContain("all checks passed");
    expect(result.code).toBe(0);
  });
});

it("fails when Tailor cannot be reached", { timeout: 60_000 }, async () => {
  const result = await smoke("http://127.0.0.1:9");
  expect(result.code).toBe(2);
});
