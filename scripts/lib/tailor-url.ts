/**
 * Where the command-line tools find a running Tailor, the same way for each of them: `--url`, then
 * the `TAILOR_URL` environment variable, then the local dev server — the address `npm run dev`
 * wrote to `.wrangler/dev-url` while it runs, or http://127.0.0.1:8787.
 * @module
 */
import { existsSync, readFileSync } from "node:fs";

/** Where `npm run dev` serves Tailor unless its port is taken or `--port` says otherwise. */
export const DEFAULT_TAILOR_URL = "http://127.0.0.1:8787";

/** Written by `npm run dev` with the address it serves Tailor on; removed when it stops. */
export const DEV_URL_FILE = ".wrangler/dev-url";

/** The running dev server's address, or the default when `npm run dev` is not running here. */
function devServerUrl(): string {
  if (!existsSync(DEV_URL_FILE)) return DEFAULT_TAILOR_URL;
  const written = readFileSync(DEV_URL_FILE, "utf8").trim();
  return URL.canParse(written) ? written : DEFAULT_TAILOR_URL;
}

/** The base URL a tool talks to, without a trailing slash. */
export function tailorUrl(option: string | undefined): string {
  const chosen = option ?? (process.env.TAILOR_URL || undefined) ?? devServerUrl();
  return chosen.replace(/\/+$/, "");
}
