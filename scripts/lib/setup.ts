/**
 * What `npm run setup -- --env <name>` does, with the command runner passed in so tests can check
 * every command it would run without reaching Cloudflare. Each step is idempotent: a second run
 * finds what the first created and only does what is still missing.
 *
 *  1. KV namespace: each `[[env.<name>.kv_namespaces]]` whose id is still the `setup:` placeholder
 *     is found by title (`wrangler kv namespace list`) or created, and its id written into
 *     wrangler.toml and wrangler.admin.toml in place of that exact placeholder (nothing else in
 *     either file is touched).
 *  2. Queues: each queue the environment produces to or consumes is looked up
 *     (`wrangler queues info`) and created when missing, with the chosen retention.
 *  3. Deploy both Workers (Durable Objects are created on first use, in `DATA_JURISDICTION`): the
 *     admin Worker, then the visitors' Worker. Each binds the other (the ADMIN service binding; the
 *     admin's Durable Object bindings), and Cloudflare refuses a binding to a Worker that does not
 *     exist: so when the admin Worker is not deployed yet (`wrangler deployments list`), the
 *     visitors' Worker is first deployed once without its ADMIN binding (a copy of wrangler.toml
 *     without that block, removed afterwards).
 *  4. Secrets: `wrangler secret list` of each Worker must name every required secret; missing ones
 *     are listed with the `wrangler secret put` commands that set them, and setup stops there.
 *  5. First rules: when nothing is published yet, the rules file is published through the admin
 *     API (`npm run rules -- publish`), with the CLI's credentials (an Access service token when
 *     the deployment is Access-only).
 * @module
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** Runs one command; never throws for a non-zero exit. */
export type Runner = (command: string, args: readonly string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

/** The parts of wrangler's resolved configuration for one environment that setup needs. */
export interface EnvironmentConfig {
  name: string;
  kv_namespaces: { binding: string; id?: string }[];
  queues: { producers?: { queue: string }[]; consumers?: { queue: string; dead_letter_queue?: string }[] };
  vars: Record<string, unknown>;
  routes?: (string | { pattern: string })[];
}

export interface SetupOptions {
  environment: string;
  config: EnvironmentConfig;
  /** Path of wrangler.toml, where KV ids are written. */
  configPath: string;
  /** Path of wrangler.admin.toml (the admin Worker), where the same KV ids are written. */
  adminConfigPath: string;
  dryRun: boolean;
  /** Secrets every deployment needs. */
  requiredSecrets: readonly string[];
  rulesFile: string;
  /** Where the deployed Tailor answers, for publishing the first rules. */
  url: string;
  /** How long queues keep an undelivered message (seconds; 60 to 1,209,600). */
  retentionSeconds: number;
  log: (line: string) => void;
}

/** The marker a KV id carries in wrangler.toml until setup writes the real one. */
export const PLACEHOLDER_PREFIX = "setup:";

/** The title setup gives (and looks for) a namespace: `tailor-staging-rules`. */
export function namespaceTitle(workerName: string, binding: string): string {
  return `${workerName}-${binding.toLowerCase().replace(/_/g, "-")}`;
}

/** Every queue the environment uses, each once. */
export function queueNames(config: EnvironmentConfig): string[] {
  const names = new Set<string>();
  for (const producer of config.queues.producers ?? []) names.add(producer.queue);
  for (const consumer of config.queues.consumers ?? []) {
    names.add(consumer.queue);
    if (consumer.dead_letter_queue !== undefined) names.add(consumer.dead_letter_queue);
  }
  return [...names];
}

/** `https://host` of the first route, for environments that do not say where they answer. */
export function routeUrl(config: EnvironmentConfig): string | undefined {
  const first = config.routes?.[0];
  const pattern = typeof first === "string" ? first : first?.pattern;
  if (pattern === undefined) return undefined;
  return `https://${pattern.replace(/^https?:\/\//, "").split("/")[0]}`;
}

/** Replaces one exact, quoted placeholder in the TOML text; fails unless it occurs exactly once. */
export function writeNamespaceId(text: string, placeholder: string, id: string): string {
  if (!/^[0-9a-f]{32}$/.test(id)) throw new Error(`not a KV namespace id: ${id}`);
  const quoted = `"${placeholder}"`;
  const parts = text.split(quoted);
  if (parts.length !== 2) throw new Error(`expected ${quoted} exactly once in wrangler.toml, found it ${parts.length - 1} times`);
  return parts.join(`"${id}"`);
}

const KV_ID = /\b[0-9a-f]{32}\b/;

/** The file the first deploy uses: wrangler.toml beside it, for the same relative paths. */
export const FIRST_DEPLOY_CONFIG = "wrangler.first-deploy.toml";

/**
 * wrangler.toml without the environment's ADMIN service binding, for the one deploy before the
 * admin Worker exists. Fails unless the block is there exactly once, as written.
 */
export function withoutAdminBinding(text: string, environment: string): string {
  const block = new RegExp(`\\[\\[env\\.${environment}\\.services\\]\\]\\nbinding = "ADMIN"\\nservice = "[^"\\n]+"\\n`, "g");
  const found = text.match(block) ?? [];
  if (found.length !== 1)
    throw new Error(`expected the ADMIN service binding of [env.${environment}] once in wrangler.toml, found it ${found.length} times`);
  return text.replace(block, "");
}

class SetupStopped extends Error {}

/** Runs (or, dry, prints) the setup; resolves to the exit code. */
export async function runSetup(options: SetupOptions, run: Runner): Promise<number> {
  const { environment, config, dryRun, log } = options;
  const wrangler = (...args: string[]) => ["wrangler", ...args] as const;
  const show = (args: readonly string[]) => `npx ${args.map((arg) => (/[\s()"]/.test(arg) ? JSON.stringify(arg) : arg)).join(" ")}`;
  async function step(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    log(`${dryRun ? "would run" : "running"}: ${show(args)}`);
    if (dryRun) return { code: 0, stdout: "", stderr: "" };
    return run("npx", args);
  }
  function must(result: { code: number; stderr: string }, what: string): void {
    if (result.code !== 0) throw new SetupStopped(`${what} failed:\n${result.stderr.trim()}`);
  }

  try {
    const jurisdiction = String(config.vars.DATA_JURISDICTION ?? "none");
    log(`setup: environment "${environment}" (Worker ${config.name})${dryRun ? ", dry run: nothing is changed" : ""}`);
    log(
      `setup: DATA_JURISDICTION = "${jurisdiction}": every Durable Object is created ${jurisdiction === "none" ? "without a jurisdiction" : `in the "${jurisdiction}" jurisdiction`} on first use. Changing it after this deploy starts every visitor from empty (docs/operations.md).`,
    );

    const unfinished = Object.entries(config.vars)
      .filter(([, value]) => typeof value === "string" && /replace-with|\bexample\.com\b/.test(value))
      .map(([name]) => name);
    const exampleRoutes = (config.routes ?? []).some((route) => /\bexample\.com\b/.test(typeof route === "string" ? route : route.pattern));
    if (exampleRoutes) unfinished.push("routes");
    if (unfinished.length > 0) {
      const message = `wrangler.toml [env.${environment}] still has example values: ${unfinished.join(", ")}`;
      if (!dryRun) throw new SetupStopped(`${message}. Set them to your own first (docs/operations.md, "Environments").`);
      log(`setup: note: ${message}; a real run stops until they are set`);
    }

    log("\n1. KV namespaces");
    let toml = readFileSync(options.configPath, "utf8");
    for (const namespace of config.kv_namespaces) {
      const id = namespace.id ?? "";
      if (!id.startsWith(PLACEHOLDER_PREFIX)) {
        log(`   ${namespace.binding}: id ${id} already in wrangler.toml`);
        continue;
      }
      const title = namespaceTitle(config.name, namespace.binding);
      const listed = await step(wrangler("kv", "namespace", "list"));
      must(listed, "listing KV namespaces");
      let found: string | undefined;
      if (!dryRun) {
        const namespaces = JSON.parse(listed.stdout.slice(listed.stdout.indexOf("["))) as { id: string; title: string }[];
        found = namespaces.find((candidate) => candidate.title === title)?.id;
      }
      if (found === undefined) {
        const created = await step(wrangler("kv", "namespace", "create", title));
        must(created, `creating KV namespace ${title}`);
        found = dryRun ? undefined : KV_ID.exec(created.stdout)?.[0];
        if (!dryRun && found === undefined) throw new SetupStopped(`could not read the new namespace's id from:\n${created.stdout}`);
      } else log(`   ${title} exists: ${found}`);
      if (dryRun) log(`   would write the id of "${title}" into ${options.configPath} and ${options.adminConfigPath} in place of "${id}"`);
      else if (found !== undefined) {
        toml = writeNamespaceId(toml, id, found);
        writeFileSync(options.configPath, toml);
        const admin = readFileSync(options.adminConfigPath, "utf8");
        if (admin.includes(`"${id}"`)) writeFileSync(options.adminConfigPath, writeNamespaceId(admin, id, found));
        log(`   wrote ${namespace.binding} = ${found} into ${options.configPath} and ${options.adminConfigPath} (commit them)`);
      }
    }

    log(`\n2. Queues (message retention ${options.retentionSeconds} s)`);
    if (jurisdiction !== "none")
      log(`   note: wrangler 4.86 creates queues without a jurisdiction option; messages pass through, kept at most the retention above`);
    for (const queue of queueNames(config)) {
      const info = await step(wrangler("queues", "info", queue));
      if (!dryRun && info.code === 0) {
        log(`   ${queue} exists`);
        continue;
      }
      if (dryRun) log("   (the next command runs only when the queue is missing)");
      must(
        await step(wrangler("queues", "create", queue, "--message-retention-period-secs", String(options.retentionSeconds))),
        `creating queue ${queue}`,
      );
    }

    log("\n3. Deploy (the admin Worker, then the visitors' Worker)");
    const admin = ["-c", options.adminConfigPath] as const;
    const adminDeployed = await step(wrangler("deployments", "list", ...admin, "--env", environment));
    if (dryRun || adminDeployed.code !== 0) {
      if (dryRun) log("   (the next command runs only when the admin Worker does not exist yet)");
      const firstDeploy = join(dirname(options.configPath), FIRST_DEPLOY_CONFIG);
      if (dryRun) log(`   would write ${firstDeploy}: wrangler.toml without [[env.${environment}.services]] ADMIN`);
      else writeFileSync(firstDeploy, withoutAdminBinding(readFileSync(options.configPath, "utf8"), environment));
      try {
        must(await step(wrangler("deploy", "-c", firstDeploy, "--env", environment)), "the first deploy of the visitors' Worker");
      } finally {
        if (!dryRun) rmSync(firstDeploy, { force: true });
      }
    }
    must(await step(wrangler("deploy", ...admin, "--env", environment)), "wrangler deploy of the admin Worker");
    must(await step(wrangler("deploy", "--env", environment)), "wrangler deploy");

    log("\n4. Secrets (each Worker has its own; the same values)");
    const missingCommands: string[] = [];
    for (const worker of [[], admin] as const) {
      const listed = await step(wrangler("secret", "list", ...worker, "--env", environment, "--format", "json"));
      must(listed, "listing secrets");
      if (dryRun) continue;
      const present = new Set(
        (JSON.parse(listed.stdout.slice(listed.stdout.indexOf("["))) as { name: string }[]).map((secret) => secret.name),
      );
      for (const name of options.requiredSecrets.filter((secret) => !present.has(secret)))
        missingCommands.push(
          `   npx wrangler secret put ${name}${worker.length === 0 ? "" : ` -c ${options.adminConfigPath}`} --env ${environment}`,
        );
    }
    if (dryRun) log(`   must include: ${options.requiredSecrets.join(", ")} (setup stops and names any that are missing)`);
    else if (missingCommands.length > 0) {
      log("   missing; set each, then run setup again:");
      for (const command of missingCommands) log(command);
      return 1;
    } else log(`   all set on both Workers: ${options.requiredSecrets.join(", ")}`);

    log(`\n5. First rules (${options.rulesFile} at ${options.url})`);
    const tool = ["tsx", "scripts/rules.ts"];
    const versions = await step([...tool, "versions", "--url", options.url]);
    must(versions, "reading the published versions (are the CLI's credentials set? TAILOR_ACCESS_CLIENT_ID/_SECRET when Access-only)");
    if (!dryRun && /\blive\b/.test(versions.stdout)) log("   rules are already published; left as they are");
    else {
      if (dryRun) log("   (the next command runs only when nothing is published yet)");
      must(
        await step([...tool, "publish", options.rulesFile, "-m", "first rules (npm run setup)", "--url", options.url]),
        "publishing the first rules",
      );
    }
    log(`\nsetup: ${dryRun ? "that is the whole plan" : "done"}. Next: npm run smoke -- --url ${options.url}`);
    return 0;
  } catch (error) {
    if (error instanceof SetupStopped) {
      log(`setup: ${error.message}`);
      return 1;
    }
    throw error;
  }
}
