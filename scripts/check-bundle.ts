/**
 * Fails when either Worker's bundle grows past its budget. Run by `npm test` (`npm run check`).
 *
 *   npm run check:bundle
 *
 * Builds each Worker exactly as `wrangler deploy` does (a dry run into a temporary folder) and
 * compares its `index.js` with the budget: the visitors' Worker, which every visitor's new isolate
 * loads, and the admin Worker, which only editors reach. It also prints where the bytes go, by
 * package, from an esbuild build with the same settings (minified, ES modules), so a failure names
 * the culprit. docs/decisions/0012-bundle-budget.md says why the budgets are what they are.
 * @module
 */
import { statSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { buildWorker } from "./lib/local-tailor.ts";

/** One Worker's bundle and the most its `index.js` (as `wrangler deploy` writes it) may weigh, in bytes. */
export interface BundleBudget {
  name: string;
  config: string;
  entry: string;
  budgetBytes: number;
}

/**
 * The visitors' Worker: issue 15's 300 KiB (244 KiB measured when the admin moved out). The admin
 * Worker: what it weighed then (454 KiB) with a little room; a ratchet, not a goal.
 */
export const BUNDLE_BUDGETS: readonly BundleBudget[] = [
  { name: "visitors' Worker", config: "wrangler.toml", entry: "workers/index.ts", budgetBytes: 300 * 1024 },
  { name: "admin Worker", config: "wrangler.admin.toml", entry: "workers/admin/index.ts", budgetBytes: 480 * 1024 },
];

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

/** Whether a bundle of `sizeBytes` fits its budget, and the line that says so. */
export function bundleVerdict(bundle: BundleBudget, sizeBytes: number): { withinBudget: boolean; message: string } {
  const verdict = `bundle: ${bundle.name} (${bundle.config}) index.js is ${sizeBytes.toLocaleString("en")} bytes (${kib(sizeBytes)}); the budget is ${bundle.budgetBytes.toLocaleString("en")} bytes (${kib(bundle.budgetBytes)})`;
  if (sizeBytes <= bundle.budgetBytes) return { withinBudget: true, message: `${verdict}: within budget` };
  return {
    withinBudget: false,
    message: `${verdict}: over by ${kib(sizeBytes - bundle.budgetBytes)}. Shrink what grew (see above) or, if it is worth it, raise the budget in scripts/check-bundle.ts and say why in docs/decisions/0012-bundle-budget.md.`,
  };
}

/** Bytes of the minified bundle from `entry` by package (`node_modules/<name>`) or by source folder. */
export async function bytesByPackage(entry: string): Promise<[string, number][]> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    external: ["cloudflare:*"],
    minify: true,
    metafile: true,
    write: false,
    outdir: "unused",
    logLevel: "silent",
  });
  const sums = new Map<string, number>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
      const key = dependency?.[1] ?? path.split("/").slice(0, 2).join("/");
      sums.set(key, (sums.get(key) ?? 0) + input.bytesInOutput);
    }
  }
  return [...sums].sort((a, b) => b[1] - a[1]);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  let failed = false;
  for (const bundle of BUNDLE_BUDGETS) {
    const worker = buildWorker(bundle.config);
    const size = statSync(worker.scriptPath).size;
    worker.cleanUp();
    const parts = await bytesByPackage(bundle.entry);
    console.log(`bundle: ${bundle.name}, largest parts (esbuild, minified):`);
    for (const [name, bytes] of parts.slice(0, 8)) console.log(`  ${kib(bytes).padStart(10)}  ${name}`);
    const { withinBudget, message } = bundleVerdict(bundle, size);
    if (withinBudget) console.log(message);
    else {
      console.error(message);
      failed = true;
    }
  }
  if (failed) process.exit(1);
}
