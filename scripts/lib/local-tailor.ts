/**
 * Runs the built Worker on Miniflare directly (one workerd process, real bindings from
 * `wrangler.toml`), the way the benchmarks and browser tests need it: `wrangler dev` adds CPU per
 * request and leaks under sustained load in wrangler 4.86, so it is for development only.
 * @module
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { Miniflare, type WorkerOptions } from "miniflare";
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
  /** Opens workerd's inspector (Chrome DevTools protocol) on this port, for CPU profiles. */
  inspectorPort?: number;
}

export interface LocalTailor {
  url: string;
  miniflare: Miniflare;
  dispose(): Promise<void>;
}

const OFFLINE_ENV = { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_HIDE_BANNER: "true", CLOUDFLARE_CF_FETCH_ENABLED: "false" };

/** Bundles a Worker (the visitors' one unless `config` names another) exactly as `wrangler deploy` would, into a temporary folder. */
export function buildWorker(config = "wrangler.toml"): { outdir: string; scriptPath: string; cleanUp(): void } {
  const outdir = mkdtempSync(join(tmpdir(), "tailor-build-"));
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "-c", config, "--outdir", outdir], { env: OFFLINE_ENV, stdio: "ignore" });
  return { outdir, scriptPath: join(outdir, "index.js"), cleanUp: () => rmSync(outdir, { recursive: true, force: true }) };
}

/** `buildWorker` without blocking, so two builds can run side by side. */
async function buildWorkerInBackground(config: string): Promise<{ outdir: string; scriptPath: string; cleanUp(): void }> {
  const outdir = mkdtempSync(join(tmpdir(), "tailor-build-"));
  await promisify(execFile)("npx", ["wrangler", "deploy", "--dry-run", "-c", config, "--outdir", outdir], {
    env: OFFLINE_ENV,
    maxBuffer: 16 * 1024 * 1024,
  });
  return { outdir, scriptPath: join(outdir, "index.js"), cleanUp: () => rmSync(outdir, { recursive: true, force: true }) };
}

/**
 * The admin Worker as Miniflare runs it next to the visitors' Worker (whose `ADMIN` binding names
 * it "tailor-admin"): its wrangler.admin.toml bindings, a bundle from `buildWorker("wrangler.admin.toml")`,
 * and the same vars and secrets as the visitors' Worker.
 */
export function adminWorkerOptions(build: { scriptPath: string; outdir: string }, bindings: Record<string, string>): WorkerOptions {
  const admin = unstable_getMiniflareWorkerOptions("wrangler.admin.toml").workerOptions;
  return {
    ...admin,
    name: "tailor-admin",
    modules: true,
    scriptPath: build.scriptPath,
    modulesRoot: build.outdir,
    bindings: { ...admin.bindings, ...bindings },
  };
}

/** The signing key `startLocalTailor` gives both Workers (rules it seeds are signed with it). */
export const LOCAL_RULES_SIGNING_KEY = "local-rules-signing-key-for-tests-and-benchmarks";

/** Puts `rules` (and the demo models) into a local RULES namespace, signed with the local key as a publish would. */
export async function seedRules(
  kv: { put(key: string, value: string, options?: { metadata?: unknown }): Promise<unknown> },
  rules: Parameters<typeof demoKvEntries>[0],
): Promise<void> {
  for (const { key, value, metadata } of await demoKvEntries(rules, LOCAL_RULES_SIGNING_KEY))
    await kv.put(key, value, metadata === undefined ? {} : { metadata });
}

/**
 * Builds both Workers and starts them on Miniflare with in-memory storage, the visitors' Worker
 * listening on 127.0.0.1 and reaching the admin Worker through its ADMIN service binding, as
 * deployed. With `scriptPath` (an earlier build, for benchmarks) only the visitors' Worker runs,
 * without ADMIN (its /admin answers 503).
 */
export async function startLocalTailor(options: LocalTailorOptions): Promise<LocalTailor> {
  // Both bundles at once: each build is a wrangler process of its own.
  const [build, adminBuild] =
    options.scriptPath === undefined
      ? await Promise.all([buildWorkerInBackground("wrangler.toml"), buildWorkerInBackground("wrangler.admin.toml")])
      : [{ outdir: dirname(options.scriptPath), scriptPath: options.scriptPath, cleanUp: () => undefined }, undefined];
  const { workerOptions } = unstable_getMiniflareWorkerOptions("wrangler.toml");
  const consumers = Object.fromEntries(
    Object.entries(workerOptions.queueConsumers ?? {}).filter(([queue]) => !(options.unconsumedQueues ?? []).includes(queue)),
  );
  const secrets = {
    VISITOR_ID_SECRET: "local-visitor-id-secret-for-tests-and-benchmarks",
    ADMIN_TOKEN: "local-admin-token-for-tests-and-benchmarks",
    RULES_SIGNING_KEY: LOCAL_RULES_SIGNING_KEY,
    ...options.bindings,
    ORIGIN_URL: options.originUrl,
    KAFKA_REST_URL: options.kafkaRestUrl,
  };
  const { ADMIN: _admin, ...otherServices } = (workerOptions.serviceBindings ?? {}) as Record<string, unknown>;
  const workers: WorkerOptions[] = [
    {
      ...workerOptions,
      name: "tailor",
      modules: true,
      scriptPath: build.scriptPath,
      modulesRoot: build.outdir,
      queueConsumers: consumers,
      serviceBindings: {
        ...(otherServices as WorkerOptions["serviceBindings"]),
        ...(adminBuild === undefined ? {} : { ADMIN: "tailor-admin" }),
      },
      bindings: { ...workerOptions.bindings, ...secrets },
    },
  ];
  if (adminBuild !== undefined) workers.push(adminWorkerOptions(adminBuild, secrets));
  const miniflare = new Miniflare({
    workers,
    host: "127.0.0.1",
    port: options.port ?? 0,
    cf: false,
    ...(options.inspectorPort === undefined ? {} : { inspectorPort: options.inspectorPort }),
    ...(options.durableObjectsDir === undefined ? {} : { durableObjectsPersist: options.durableObjectsDir }),
  });
  const url = (await miniflare.ready).toString().replace(/\/$/, "");
  if (options.rules !== undefined) {
    await seedRules(await miniflare.getKVNamespace("RULES"), options.rules);
  }
  return {
    url,
    miniflare,
    dispose: async () => {
      await miniflare.dispose();
      build.cleanUp();
      adminBuild?.cleanUp();
    },
  };
}
