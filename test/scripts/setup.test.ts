/**
 * `npm run setup`: what it would run against a Cloudflare account, checked with a stand-in runner
 * (nothing reaches Cloudflare), how it writes the KV id into wrangler.toml, and that it stops
 * before publishing when a secret is missing. A dry run runs nothing and changes nothing.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { type EnvironmentConfig, FIRST_DEPLOY_CONFIG, type Runner, runSetup, writeNamespaceId } from "../../scripts/lib/setup.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const NEW_ID = "0123456789abcdef0123456789abcdef";
const SECRETS = ["VISITOR_ID_SECRET", "IDENTITY_SECRET", "RULES_SIGNING_KEY", "ADMIN_TOKEN"];

/**
 * A copy of the project's wrangler.toml to write into, and the staging config read from it, with
 * the example hostnames and ids replaced as an operator would (unless `asShipped`).
 */
function scratchConfig(asShipped = false): { path: string; adminPath: string; config: EnvironmentConfig } {
  const folder = mkdtempSync(join(tmpdir(), "tailor-setup-"));
  const path = join(folder, "wrangler.toml");
  const adminPath = join(folder, "wrangler.admin.toml");
  copyFileSync(join(ROOT, "wrangler.toml"), path);
  copyFileSync(join(ROOT, "wrangler.admin.toml"), adminPath);
  if (!asShipped)
    for (const file of [path, adminPath])
      writeFileSync(file, readFileSync(file, "utf8").replaceAll("example.com", "northwind.test").replaceAll("replace-with-", "our-"));
  return { path, adminPath, config: unstable_readConfig({ config: path, env: "staging" }) as unknown as EnvironmentConfig };
}

interface Account {
  /** Whether the admin Worker is deployed already. */
  adminDeployed?: boolean;
  namespaces?: { id: string; title: string }[];
  queues?: string[];
  secrets?: string[];
  published?: boolean;
}

/** A runner that answers as wrangler and the rules CLI would for `account`, recording every command. */
function fakeAccount(account: Account): { run: Runner; commands: string[]; firstDeployConfigs: string[] } {
  const commands: string[] = [];
  const firstDeployConfigs: string[] = [];
  const run: Runner = async (_, args) => {
    const line = args.join(" ");
    commands.push(line);
    if (line.startsWith("wrangler deployments list"))
      return account.adminDeployed ? { code: 0, stdout: "", stderr: "" } : { code: 1, stdout: "", stderr: "not found" };
    // The first deploy's configuration exists while that deploy runs.
    if (line.includes(FIRST_DEPLOY_CONFIG)) firstDeployConfigs.push(readFileSync(args[3] ?? "", "utf8"));
    const ok = (stdout = "") => ({ code: 0, stdout, stderr: "" });
    if (line === "wrangler kv namespace list") return ok(JSON.stringify(account.namespaces ?? []));
    if (line.startsWith("wrangler kv namespace create"))
      return ok(`Creating namespace...\n✨ Success!\n[[kv_namespaces]]\nbinding = "x"\nid = "${NEW_ID}"\n`);
    if (line.startsWith("wrangler queues info"))
      return (account.queues ?? []).includes(args[3] ?? "") ? ok("") : { code: 1, stdout: "", stderr: "not found" };
    if (line.startsWith("wrangler secret list"))
      return ok(JSON.stringify((account.secrets ?? []).map((name) => ({ name, type: "secret_text" }))));
    if (line.includes("scripts/rules.ts versions")) return ok(account.published ? "     1 live 2026-12-01  ci  first" : "");
    return ok();
  };
  return { run, commands, firstDeployConfigs };
}

function options(path: string, config: EnvironmentConfig, dryRun: boolean, log: string[]) {
  return {
    environment: "staging",
    config,
    configPath: path,
    adminConfigPath: join(dirname(path), "wrangler.admin.toml"),
    dryRun,
    requiredSecrets: SECRETS,
    rulesFile: "demo-shop/rules.json",
    url: "https://staging.example.com",
    retentionSeconds: 345_600,
    log: (line: string) => log.push(line),
  };
}

describe("npm run setup", () => {
  it("on an empty account: creates the namespace and every queue, writes the id, deploys both Workers, checks secrets, publishes", async () => {
    const { path, adminPath, config } = scratchConfig();
    const before = readFileSync(path, "utf8");
    const adminBefore = readFileSync(adminPath, "utf8");
    const firstDeploy = join(dirname(path), FIRST_DEPLOY_CONFIG);
    const { run, commands, firstDeployConfigs } = fakeAccount({ secrets: SECRETS, queues: ["tailor-staging-feedback"] });
    const log: string[] = [];
    expect(await runSetup(options(path, config, false, log), run)).toBe(0);

    expect(commands).toEqual([
      "wrangler kv namespace list",
      "wrangler kv namespace create tailor-staging-rules",
      "wrangler queues info tailor-staging-events",
      "wrangler queues create tailor-staging-events --message-retention-period-secs 345600",
      "wrangler queues info tailor-staging-feedback",
      "wrangler queues info tailor-staging-dead-letter",
      "wrangler queues create tailor-staging-dead-letter --message-retention-period-secs 345600",
      // The admin Worker does not exist yet: the visitors' Worker goes first, once, without its ADMIN binding.
      `wrangler deployments list -c ${adminPath} --env staging`,
      `wrangler deploy -c ${firstDeploy} --env staging`,
      `wrangler deploy -c ${adminPath} --env staging`,
      "wrangler deploy --env staging",
      "wrangler secret list --env staging --format json",
      `wrangler secret list -c ${adminPath} --env staging --format json`,
      "tsx scripts/rules.ts versions --url https://staging.example.com",
      "tsx scripts/rules.ts publish demo-shop/rules.json -m first rules (npm run setup) --url https://staging.example.com",
    ]);
    expect(firstDeployConfigs).toHaveLength(1);
    expect(firstDeployConfigs[0]).not.toContain("[[env.staging.services]]");
    expect(firstDeployConfigs[0]).toContain("[[env.production.services]]");
    expect(existsSync(firstDeploy)).toBe(false);
    // Both Workers read the same namespace id.
    expect(unstable_readConfig({ config: adminPath, env: "staging" }).kv_namespaces[0]?.id).toBe(NEW_ID);
    expect(readFileSync(adminPath, "utf8").replace(`"${NEW_ID}"`, '"setup:staging:RULES"')).toBe(adminBefore);
    // The id is where wrangler reads it, and nothing else in the file changed.
    const after = readFileSync(path, "utf8");
    const reread = unstable_readConfig({ config: path, env: "staging" });
    expect(reread.kv_namespaces.find((namespace: { binding: string }) => namespace.binding === "RULES")?.id).toBe(NEW_ID);
    expect(after.replace(`"${NEW_ID}"`, '"setup:staging:RULES"')).toBe(before);
    expect(unstable_readConfig({ config: path, env: "production" }).kv_namespaces[0]?.id).toBe("setup:production:RULES");
  });

  it("on a second run: finds the namespace, queues and rules, and changes nothing", async () => {
    const { path, config } = scratchConfig();
    const { run, commands } = fakeAccount({
      adminDeployed: true,
      namespaces: [{ id: NEW_ID, title: "tailor-staging-rules" }],
      queues: ["tailor-staging-events", "tailor-staging-feedback", "tailor-staging-dead-letter"],
      secrets: SECRETS,
      published: true,
    });
    expect(await runSetup(options(path, config, false, []), run)).toBe(0);
    expect(commands.filter((line) => /create|publish|first-deploy/.test(line))).toEqual([]);
    expect(unstable_readConfig({ config: path, env: "staging" }).kv_namespaces[0]?.id).toBe(NEW_ID);
  });

  it.each([
    [["VISITOR_ID_SECRET", "ADMIN_TOKEN", "RULES_SIGNING_KEY"], ["IDENTITY_SECRET"]],
    [[], SECRETS],
  ])("with secrets %j only: names each missing one with its command, and publishes nothing", async (present, missing) => {
    const { path, config } = scratchConfig();
    const { run, commands } = fakeAccount({ secrets: present });
    const log: string[] = [];
    expect(await runSetup(options(path, config, false, log), run)).toBe(1);
    for (const name of missing) {
      expect(log).toContain(`   npx wrangler secret put ${name} --env staging`);
      expect(log).toContain(`   npx wrangler secret put ${name} -c ${join(dirname(path), "wrangler.admin.toml")} --env staging`);
    }
    expect(commands.some((line) => line.includes("scripts/rules.ts"))).toBe(false);
  });

  it("--dry-run prints the whole plan and runs nothing", async () => {
    const { path, config } = scratchConfig();
    const before = readFileSync(path, "utf8");
    const { run, commands } = fakeAccount({});
    const log: string[] = [];
    expect(await runSetup(options(path, config, true, log), run)).toBe(0);
    expect(commands).toEqual([]);
    expect(readFileSync(path, "utf8")).toBe(before);
    const plan = log.join("\n");
    for (const expected of [
      "npx wrangler kv namespace create tailor-staging-rules",
      "npx wrangler queues create tailor-staging-events --message-retention-period-secs 345600",
      "npx wrangler queues create tailor-staging-feedback --message-retention-period-secs 345600",
      "npx wrangler queues create tailor-staging-dead-letter --message-retention-period-secs 345600",
      "npx wrangler deploy --env staging",
      `npx wrangler deploy -c ${join(dirname(path), FIRST_DEPLOY_CONFIG)} --env staging`,
      "wrangler.admin.toml --env staging",
      "npx wrangler secret list --env staging --format json",
      'npx tsx scripts/rules.ts publish demo-shop/rules.json -m "first rules (npm run setup)" --url https://staging.example.com',
      'DATA_JURISDICTION = "eu"',
    ])
      expect(plan).toContain(expected);
  });

  it("refuses a real run while the environment still has the example hostnames and ids, and runs nothing", async () => {
    const { path, config } = scratchConfig(true);
    const { run, commands } = fakeAccount({ secrets: SECRETS });
    const log: string[] = [];
    expect(await runSetup(options(path, config, false, log), run)).toBe(1);
    expect(commands).toEqual([]);
    const said = log.join("\n");
    for (const name of ["ORIGIN_URL", "KAFKA_REST_URL", "ACCESS_TEAM_DOMAIN", "ACCESS_AUD", "routes"]) expect(said).toContain(name);
  });

  it("stops with the error when a wrangler command fails, before deploying", async () => {
    const { path, config } = scratchConfig();
    const failing: Runner = async (_, args) =>
      args.join(" ") === "wrangler kv namespace list"
        ? { code: 1, stdout: "", stderr: "Not logged in" }
        : { code: 0, stdout: "[]", stderr: "" };
    const log: string[] = [];
    expect(await runSetup(options(path, config, false, log), failing)).toBe(1);
    expect(log.join("\n")).toContain("Not logged in");
  });
});

describe("writing the KV id", () => {
  const text = 'id = "setup:staging:RULES"\nother = "setup:production:RULES"\n';
  it.each([
    ["not an id", "setup:staging:RULES", "abc"],
    ["an id with quotes", "setup:staging:RULES", `${NEW_ID}"\nmain = "evil.js`],
    ["a placeholder that is not there", "setup:preview:RULES", NEW_ID],
  ])("refuses %s", (_, placeholder, id) => {
    expect(() => writeNamespaceId(text, placeholder, id)).toThrow();
  });

  it("refuses a placeholder that occurs twice", () => {
    expect(() => writeNamespaceId(`${text}${text}`, "setup:staging:RULES", NEW_ID)).toThrow(/exactly once/);
  });

  it("replaces exactly the quoted placeholder", () => {
    expect(writeNamespaceId(text, "setup:staging:RULES", NEW_ID)).toBe(`id = "${NEW_ID}"\nother = "setup:production:RULES"\n`);
  });
});
