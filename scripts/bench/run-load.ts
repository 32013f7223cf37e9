/**
 * Runs the load generator in a separate Node process and returns its result.
 */
import { execFile } from "node:child_process";
import type { LoadPlan, LoadResult } from "./load-generator.ts";

export function runLoadInChild(plan: LoadPlan): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "scripts/bench/load-generator.ts", JSON.stringify(plan)],
      { maxBuffer: 16 * 1024 * 1024, timeout: (plan.timeLimitMs ?? 120_000) + 30_000 },
      (error, stdout) => {
        if (error) reject(error);
        else resolve(JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as LoadResult);
      },
    );
  });
}
