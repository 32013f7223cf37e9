/**
 * `npm run rules -- <command>`: the rules workflow from a terminal or CI, against a running Tailor
 * (found by `--url`, `TAILOR_URL`, then the running dev server: see `lib/tailor-url.ts`; token from
 * `ADMIN_TOKEN` or `.dev.vars`, and/or an Access service token from `TAILOR_ACCESS_CLIENT_ID` and
 * `TAILOR_ACCESS_CLIENT_SECRET`: see `lib/admin-client.ts`).
 *
 *   validate <file>                 check a document; exit 1 when it has errors
 *   diff <file>                     what publishing the file would change in the live rules
 *   publish <file> -m "<message>" [--rollout 10% --for 15m]
 *                                   validate, then publish as the next version; with --rollout, a
 *                                   guarded publish to that share of visitors for that long (m or h)
 *   publish-model <file> --key models:<name> [--replace]
 *                                   sign and store a model under that key (pages use only signed
 *                                   models); an existing key only with --replace
 *   kill on|off -m "<reason>"       the kill switch: every page passes through untouched while on
 *   pause|resume rule|experiment <id> -m "<reason>"
 *                                   take one rule or experiment out (a new version), or put it back
 *   health                          pages, fallbacks, rollout and kill switch of the last minutes
 *   pull [--out <file>]             write the live document (default: stdout)
 *   rollback <version>              make an earlier version live again
 *   versions                        list versions
 *   preview-link --experiment <id> --variant <v> [--path /] [--ttl 60m]
 *                                   a QA link forcing that variant on that page (ttl in m, h or d; at most 7d)
 *   erase-user <user id>            erase what Tailor keeps about a user (a data subject's request)
 *   export --out <folder>           write every stored version (v<N>.json) and versions.json, for backups
 *
 * Exit codes: 0 done, 1 the server refused (problems printed), 2 usage or connection error.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { diffDocuments } from "../shared/rules/diff.ts";
import { AdminError, adminClient, adminCredentials } from "./lib/admin-client.ts";
import { tailorUrl } from "./lib/tailor-url.ts";

interface Problem {
  pointer: string;
  message: string;
  severity: "error" | "warning";
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string" },
    message: { type: "string", short: "m" },
    out: { type: "string" },
    experiment: { type: "string" },
    variant: { type: "string" },
    path: { type: "string", default: "/" },
    ttl: { type: "string", default: "60m" },
    rollout: { type: "string" },
    for: { type: "string", default: "15m" },
    key: { type: "string" },
    replace: { type: "boolean", default: false },
  },
});
const [command, argument, third] = positionals;

function usage(problem: string): never {
  console.error(
    `rules: ${problem}\nusage: npm run rules -- validate|diff|publish|publish-model|pull|rollback|versions|preview-link|kill|pause|resume|health|erase-user|export [file|version|on|off|rule|experiment|user id] [id] [--url URL] [-m MESSAGE] [--rollout 10% --for 15m] [--key models:NAME [--replace]] [--out FILE] [--experiment ID --variant V --path / --ttl 60m]`,
  );
  process.exit(2);
}

async function readDocument(path: string | undefined): Promise<Record<string, unknown>> {
  if (path === undefined) usage("which file?");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    usage(`cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    console.error(`rules: ${path} is not valid JSON: ${(error as Error).message}`);
    process.exit(1);
  }
}

function printProblems(problems: readonly Problem[]): void {
  for (const problem of problems)
    console.log(`  ${problem.severity === "error" ? "error  " : "warning"} ${problem.pointer}  ${problem.message}`);
}

const credentials = adminCredentials();
if (command === undefined) usage("which command?");
if (credentials === undefined)
  usage("no credentials: set ADMIN_TOKEN (or TAILOR_ACCESS_CLIENT_ID and TAILOR_ACCESS_CLIENT_SECRET), or run next to a .dev.vars");
const client = adminClient(tailorUrl(values.url), credentials, `${userInfo().username} (cli)`);

try {
  switch (command) {
    case "validate": {
      const { data } = await client.call<{ valid: boolean; problems: Problem[] }>("POST", "/admin/api/rules/validate", {
        document: await readDocument(argument),
      });
      printProblems(data.problems);
      console.log(
        data.valid ? `rules: ${argument} is valid${data.problems.length > 0 ? " (with warnings)" : ""}` : `rules: ${argument} has errors`,
      );
      process.exit(data.valid ? 0 : 1);
      break;
    }
    case "diff": {
      const document = await readDocument(argument);
      const { data } = await client.call<{ version: number | null; document: unknown }>("GET", "/admin/api/rules");
      const changes = diffDocuments(data.document ?? {}, document);
      if (changes.length === 0) console.log(`rules: no changes against live version ${data.version ?? "(none)"}`);
      for (const change of changes) console.log(`  ${change.change.padEnd(7)} ${change.pointer}`);
      break;
    }
    case "publish": {
      if (values.message === undefined || values.message.trim() === "") usage('publish needs -m "<what changed>"');
      let rollout: { percent: number; minutes: number } | undefined;
      if (values.rollout !== undefined) {
        const percent = /^(\d{1,3})%?$/.exec(values.rollout);
        const duration = /^(\d{1,4})([mh])$/.exec(values.for);
        if (percent === null) usage("--rollout is a share of visitors, e.g. 10%");
        if (duration === null) usage("--for is a duration in m or h, e.g. 15m, 2h");
        rollout = { percent: Number(percent[1]), minutes: Number(duration[1]) * (duration[2] === "h" ? 60 : 1) };
      }
      const { status, data } = await client.call<{
        version?: number;
        problems?: Problem[];
        detail?: string;
        rollout?: { percent: number; endsAt: string; previous: number } | null;
      }>("POST", "/admin/api/rules", {
        document: await readDocument(argument),
        message: values.message,
        ...(rollout === undefined ? {} : { rollout }),
      });
      printProblems(data.problems ?? []);
      if (status !== 201) {
        console.error(`rules: not published: ${data.detail ?? `HTTP ${status}`}`);
        process.exit(1);
      }
      if (data.rollout)
        console.log(
          `rules: version ${data.version} is rolling out to ${data.rollout.percent}% of visitors until ${data.rollout.endsAt} (the rest stay on ${data.rollout.previous}); rolled back automatically if worse`,
        );
      else console.log(`rules: published version ${data.version}; edge isolates pick it up within seconds`);
      break;
    }
    case "publish-model": {
      if (values.key === undefined || values.key === "") usage("publish-model needs --key models:<name>, e.g. --key models:related:v3");
      const { status, data } = await client.call<{
        key?: string;
        type?: string;
        bytes?: number;
        replaced?: boolean;
        detail?: string;
        errors?: { pointer: string; detail: string }[];
      }>("PUT", `/admin/api/models/${encodeURIComponent(values.key)}${values.replace ? "?replace=1" : ""}`, await readDocument(argument));
      for (const error of data.errors ?? []) console.log(`  error   ${error.pointer}  ${error.detail}`);
      if (status !== 201) {
        console.error(`rules: model not published: ${data.detail ?? `HTTP ${status}`}${status === 409 ? " (from here: --replace)" : ""}`);
        process.exit(1);
      }
      console.log(
        `rules: ${data.type} model published, signed, as ${data.key} (${data.bytes} bytes${data.replaced ? ", replaced" : ""}); reference it from the rules as {"kv": "${data.key}"}`,
      );
      break;
    }
    case "pull": {
      const { data } = await client.call<{ version: number | null; document: unknown }>("GET", "/admin/api/rules");
      if (data.document === null) {
        console.error("rules: nothing is published yet");
        process.exit(1);
      }
      const text = `${JSON.stringify(data.document, null, 2)}\n`;
      if (values.out === undefined) process.stdout.write(text);
      else {
        await writeFile(values.out, text);
        console.log(`rules: wrote live version ${data.version} to ${values.out}`);
      }
      break;
    }
    case "rollback": {
      const version = Number(argument);
      if (!Number.isInteger(version) || version <= 0) usage("rollback needs a version number");
      const { status, data } = await client.call<{ detail?: string }>("POST", "/admin/api/rules/rollback", { version });
      if (status !== 200) {
        console.error(`rules: not rolled back: ${data.detail ?? `HTTP ${status}`}`);
        process.exit(1);
      }
      console.log(`rules: version ${version} is live again`);
      break;
    }
    case "versions": {
      const { data } = await client.call<{
        versions: { version: number; live: boolean; author: string | null; publishedAt: string | null; message: string | null }[];
      }>("GET", "/admin/api/rules/versions");
      for (const version of data.versions)
        console.log(
          `  ${String(version.version).padStart(4)} ${version.live ? "live" : "    "} ${version.publishedAt ?? "-"}  ${version.author ?? "(written to KV)"}  ${version.message ?? ""}`,
        );
      break;
    }
    case "preview-link": {
      if (values.experiment === undefined || values.variant === undefined) usage("preview-link needs --experiment and --variant");
      const ttl = /^(\d{1,5})([mhd])$/.exec(values.ttl);
      if (ttl === null) usage("--ttl is a number with m, h or d, e.g. 60m, 12h, 7d");
      const ttlMinutes = Number(ttl[1]) * { m: 1, h: 60, d: 1_440 }[ttl[2] as "m" | "h" | "d"];
      const { status, data } = await client.call<{ url?: string; expiresAt?: string; detail?: string }>(
        "POST",
        "/admin/api/preview-links",
        {
          forced: { [values.experiment]: values.variant },
          path: values.path,
          ttlMinutes,
        },
      );
      if (status !== 201) {
        console.error(`rules: no preview link: ${data.detail ?? `HTTP ${status}`}`);
        process.exit(1);
      }
      console.log(data.url);
      console.error(`rules: valid until ${data.expiresAt}`);
      break;
    }
    case "kill": {
      if (argument !== "on" && argument !== "off") usage("kill on|off");
      if (values.message === undefined || values.message.trim() === "") usage('kill needs -m "<why>" for the audit log');
      const { status, data } = await client.call<{ enabled?: boolean; detail?: string }>("POST", "/admin/api/kill-switch", {
        enabled: argument === "on",
        reason: values.message,
      });
      if (status !== 200) {
        console.error(`rules: kill switch unchanged: ${data.detail ?? `HTTP ${status}`}`);
        process.exit(1);
      }
      console.log(
        data.enabled
          ? "rules: kill switch ON: pages pass through untouched (every isolate within RULES_REFRESH_MS)"
          : "rules: kill switch off: personalization resumes",
      );
      break;
    }
    case "pause":
    case "resume": {
      if ((argument !== "rule" && argument !== "experiment") || third === undefined) usage(`${command} rule|experiment <id>`);
      if (values.message === undefined || values.message.trim() === "") usage(`${command} needs -m "<why>"`);
      const { status, data } = await client.call<{ version?: number; detail?: string }>("POST", "/admin/api/rules/pause", {
        kind: argument,
        id: third,
        paused: command === "pause",
        reason: values.message,
      });
      if (status !== 200) {
        console.error(`rules: not ${command}d: ${data.detail ?? `HTTP ${status}`}`);
        process.exit(1);
      }
      console.log(`rules: ${argument} ${third} ${command}d in version ${data.version}`);
      break;
    }
    case "health": {
      const { data } = await client.call<unknown>("GET", "/admin/api/health");
      console.log(JSON.stringify(data, null, 2));
      break;
    }
    case "export": {
      if (values.out === undefined) usage("export needs --out <folder>");
      const { data } = await client.call<{ versions: { version: number }[] }>("GET", "/admin/api/rules/versions");
      await mkdir(values.out, { recursive: true });
      await writeFile(join(values.out, "versions.json"), `${JSON.stringify(data, null, 2)}\n`);
      for (const { version } of data.versions) {
        const stored = await client.call<{ document: unknown }>("GET", `/admin/api/rules/versions/${version}`);
        if (stored.status !== 200) {
          console.error(`rules: version ${version} could not be read (HTTP ${stored.status}); the others are written`);
          continue;
        }
        await writeFile(join(values.out, `v${version}.json`), `${JSON.stringify(stored.data.document, null, 2)}\n`);
      }
      console.log(`rules: wrote ${data.versions.length} version(s) and versions.json to ${values.out}`);
      break;
    }
    case "erase-user": {
      if (argument === undefined || argument === "") usage("erase-user needs the user id");
      const { status, data } = await client.call<{ subject?: string; detail?: string }>("POST", "/admin/api/users/erase", {
        userId: argument,
      });
      if (status !== 200) {
        console.error(`rules: not erased: ${data.detail ?? `HTTP ${status}`}`);
        process.exit(1);
      }
      console.log(`rules: erased the user's state (audit log entry "erase-user", user pseudonym ${data.subject})`);
      break;
    }
    default:
      usage(`unknown command "${command}"`);
  }
} catch (error) {
  if (error instanceof AdminError) {
    console.error(`rules: ${error.message}`);
    process.exit(error.status === null ? 2 : 1);
  }
  throw error;
}
