/**
 * The benchmarks a reader is told to run do run: each is started as the README says, in a small
 * configuration, and must finish by itself with exit code 0 and its report. (A benchmark that cannot
 * reach what it reports on, such as the experiment report after the admin moved into its own Worker,
 * failed only when someone ran it.) Figures are not asserted: they depend on the machine.
 */
import { execFile } from "node:child_process";
import { expect, it } from "vitest";

function run(script: string, ...args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", script, ...args],
      { maxBuffer: 16 * 1024 * 1024, timeout: 170_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, output: `${stdout}\n${stderr}` });
      },
    );
  });
}

it("bench:hot-experiment counts every exposure it sends, through the admin Worker's report", { timeout: 180_000 }, async () => {
  const { code, output } = await run("scripts/bench/hot-experiment.ts", "--seconds", "1", "--rate", "500", "--isolates", "5");
  expect(output).toMatch(/merged report \(8 shards\): ([1-9]\d*) exposures counted of \1 sent — equal/);
  expect(code, output).toBe(0);
});
