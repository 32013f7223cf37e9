/**
 * Runs the built Worker on Miniflare directly (one workerd process, real bindings from
 * `wrangler.toml`), the way the benchmarks and browser tests need it: `wrangler dev` adds CPU per
 * request and leaks under sustained load in wrangler 4.86, so it is for development only.
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { demoKvEntries } from "../../demo-shop/models.ts";

export interface LocalTailorOptions {
  originUrl: string;
  kafkaRestUrl: string;
  /** Port for Tailor; 0 picks a free one. */
  port?: number;
  /** Extra or overriding vars and secrets. */
  bindings?: Record<string, string>;
  /** A rules document to publish into KV before the first request, with the demo models. */
  rules?: { version: number };
  /**
   * Queues whose consumer is left out (for benchmarks): sends still go through the local queue
   * broker, which drops messages for a queue nobody consumes.
   */
  unconsumedQueues?: string[];
  /**
   * Folder for the Durable Objects' SQLite files, which must exist. Default: Miniflare's temporary
   * folder, removed on dispose.
   */
  durableObjectsDir?: string;
  /**
   * A bundle already built (`wrangler deploy --dry-run --outdir`), to run instead of building the
   * working tree: the cold-start benchmark compares two builds. Left in place on dispose.
   */
  scriptPath?: string;
}

export interface LocalTailor {
  url: string;
  miniflare: Miniflare;
  dispose(): Promise<void>;
}

const OFFLINE_ENV = { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_HIDE_BANNER: "true", CLOUDFLARE_CF_FETCH_ENABLED: "false" };

/** Bundles the Worker exactly as `wrangler deploy` would, into a temporary folder. */
export function buildWorker(): { outdir: string; scriptPath: string; cleanUp(): void } {
  const outdir = mkdtempSync(join(tmpdir(), "tailor-build-"));
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir], { env: OFFLINE_ENV, stdio: "ignore" });
  return { outdir, scriptPath: join(outdir, "index.js"), cleanUp: () => rmSync(outdir, { recursive: true, force: true }) };
}

/** Builds the Worker and starts it on Miniflare with in-memory storage, listening on 127.0.0.1. */
export async function startLocalTailor(options: LocalTailorOptions): Promise<LocalTailor> {
  const build =
    options.scriptPath === undefined
      ? buildWorker()
      : { outdir: dirname(options.scriptPath), scriptPath: options.scriptPath, cleanUp: () => undefined };
  const { workerOptions } = unstable_getMiniflareWorkerOptions("wrangler.toml");
  const consumers = Object.fromEntries(
    Object.entries(workerOptions.queueConsumers ?? {}).filter(([queue]) => !(options.unconsumedQueues ?? []).includes(queue)),
  );
  const miniflare = new Miniflare({
    ...workerOptions,
    name: "tailor",
    modules: true,
    scriptPath: build.scriptPath,
    modulesRoot: build.outdir,
    queueConsumers: consumers,
    host: "127.0.0.1",
    port: options.port ?? 0,
    cf: false,
    ...(options.durableObjectsDir === undefined ? {} : { durableObjectsPersist: options.durableObjectsDir }),
    bindings: {
      ...workerOptions.bindings,
      VISITOR_ID_SECRET: "local-visitor-id-secret-for-tests-and-benchmarks",
      ADMIN_TOKEN: "local-admin-token-for-tests-and-benchmarks",
      ...options.bindings,
      ORIGIN_URL: options.originUrl,
      KAFKA_REST_URL: options.kafkaRestUrl,
    },
  });
  const url = (await miniflare.ready).toString().replace(/\/$/, "");
  if (options.rules !== undefined) {
    const kv = await miniflare.getKVNamespace("RULES");
    for (const { key, value } of demoKvEntries(options.rules)) await kv.put(key, value);
  }
  return {
    url,
    miniflare,
    dispose: async () => {
      await miniflare.dispose();
      build.cleanUp();
    },
  };
}
