/**
 * Fails when the Worker's bundle grows past its budget. Run by `npm test` (`npm run check`).
 *
 *   npm run check:bundle
 *
 * Builds the Worker exactly as `wrangler deploy` does (a dry run into a temporary folder) and
 * compares `index.js` with the budget. It also prints where the bytes go, by package, from an
 * esbuild build with the same settings (minified, ES modules), so a failure names the culprit.
 * docs/decisions/0012-bundle-budget.md says why the budget is what it is.
 * @module
 */
import { statSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { buildWorker } from "./lib/local-tailor.ts";

/**
 * The budget for `index.js` as `wrangler deploy` writes it, in bytes: what the bundle reached
 * (489 KiB) with a little room. The target is 300 KiB; decision 0012 lists what stands between.
 */
export const BUNDLE_BUDGET_BYTES = 560 * 1024;

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

/** Bytes of the minified bundle by package (`node_modules/<name>`) or by source folder. */
export async function bytesByPackage(): Promise<[string, number][]> {
  const result = await build({
    entryPoints: ["workers/index.ts"],
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
  const worker = buildWorker();
  const size = statSync(worker.scriptPath).size;
  worker.cleanUp();
  const parts = await bytesByPackage();
  console.log("bundle: largest parts (esbuild, minified):");
  for (const [name, bytes] of parts.slice(0, 8)) console.log(`  ${kib(bytes).padStart(10)}  ${name}`);
  const verdict = `bundle: index.js is ${size.toLocaleString("en")} bytes (${kib(size)}); the budget is ${BUNDLE_BUDGET_BYTES.toLocaleString("en")} bytes (${kib(BUNDLE_BUDGET_BYTES)})`;
  if (size > BUNDLE_BUDGET_BYTES) {
    console.error(
      `${verdict}: over by ${kib(size - BUNDLE_BUDGET_BYTES)}. Shrink what grew (see above) or, if it is worth it, raise the budget in scripts/check-bundle.ts and say why in docs/decisions/0012-bundle-budget.md.`,
    );
    process.exit(1);
  }
  console.log(`${verdict}: within budget`);
}
