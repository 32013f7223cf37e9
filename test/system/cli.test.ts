/**
 * `npm run rules` against a running Tailor, as a marketer or a CI job would use it: pull, validate,
 * diff, publish, list and roll back, with exit codes that scripts can rely on.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import rules from "../../demo-shop/rules.json" with { type: "json" };
import { type System, startSystem } from "../support/system.ts";

let system: System;
let folder: string;

beforeAll(async () => {
  system = await startSystem(rules);
  folder = await mkdtemp(join(tmpdir(), "tailor-cli-"));
}, 180_000);

afterAll(async () => {
  await system.close();
});

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "scripts/rules.ts", ...args, "--url", system.tailor.url],
      { env: { ...process.env, ADMIN_TOKEN: system.adminToken } },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr });
      },
    );
  });
}

it("pulls, validates, diffs, publishes, lists and rolls back", { timeout: 120_000 }, async () => {
  const file = join(folder, "rules.json");
  expect((await cli("pull", "--out", file)).code).toBe(0);
  const pulled = JSON.parse(await readFile(file, "utf8")) as typeof rules;
  expect(pulled.rules.map((rule) => rule.id)).toEqual(rules.rules.map((rule) => rule.id));

  const valid = await cli("validate", file);
  expect(valid.code).toBe(0);
  expect(valid.stdout).toContain("is valid");

  const edited = structuredClone(pulled);
  if (edited.rules[0] !== undefined) edited.rules[0].priority = 150;
  await writeFile(file, JSON.stringify(edited));
  const diff = await cli("diff", file);
  expect(diff.stdout).toContain("changed /rules/electronics-hero/priority");

  const refused = await cli("publish", file);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain("-m");
  const published = await cli("publish", file, "-m", "Electronics hero first");
  expect(published.code).toBe(0);
  expect(published.stdout).toMatch(/published version 2/);

  const broken = structuredClone(edited) as unknown as { slots: Record<string, { selector: string }> };
  if (broken.slots.hero !== undefined) broken.slots.hero.selector = "div:hover";
  await writeFile(file, JSON.stringify(broken));
  const invalid = await cli("validate", file);
  expect(invalid.code).toBe(1);
  expect(invalid.stdout).toContain("/slots/hero/selector");
  expect((await cli("publish", file, "-m", "broken")).code).toBe(1);

  const versions = await cli("versions");
  expect(versions.stdout).toMatch(/2 live .*Electronics hero first/);
  expect((await cli("rollback", "1")).code).toBe(0);
  expect((await cli("versions")).stdout).toMatch(/1 live/);
  expect((await cli("rollback", "77")).code).toBe(1);
  expect((await cli("frobnicate")).code).toBe(2);
});
