/**
 * The command-line tools behind Cloudflare Access: with `TAILOR_ACCESS_CLIENT_ID` and
 * `TAILOR_ACCESS_CLIENT_SECRET` set, `npm run rules` and `npm run replay` send the service token
 * as Access expects it, and say clearly when Access turned them away.
 *
 * A local server stands in for the Access edge: it lets a request through only with the right
 * service token, and otherwise redirects to a sign-in page, as Access does.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminCredentials, credentialHeaders } from "../../scripts/lib/admin-client.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** tsx's loader by location: the tools run from a folder with no node_modules of its own. */
const TSX_LOADER = new URL("node_modules/tsx/dist/loader.mjs", `file://${ROOT}`).href;
const CLIENT_ID = "0123abcd.access";
const CLIENT_SECRET = "s3cret-service-token-value";

let server: Server;
let url = "";
const seen: IncomingHttpHeaders[] = [];
const erasures: string[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    seen.push(request.headers);
    if (request.headers["cf-access-client-id"] !== CLIENT_ID || request.headers["cf-access-client-secret"] !== CLIENT_SECRET) {
      response.writeHead(302, { location: "https://team.cloudflareaccess.com/cdn-cgi/access/login" }).end();
      return;
    }
    response.writeHead(200, { "content-type": "application/json" });
    if (request.url === "/admin/api/users/erase") {
      let text = "";
      request.on("data", (chunk: Buffer) => {
        text += chunk.toString();
      });
      request.on("end", () => {
        erasures.push(text);
        response.end(JSON.stringify({ erased: true, subject: "pseudonym-of-the-user" }));
      });
      return;
    }
    if (request.url === "/admin/api/rules/versions/3") {
      response.end(JSON.stringify({ version: 3, document: { version: 3, rules: [] } }));
      return;
    }
    if (request.url?.startsWith("/admin/api/dead-letters")) response.end(JSON.stringify({ total: 0, byReason: [] }));
    else
      response.end(
        JSON.stringify({ versions: [{ version: 3, live: true, author: "ci", publishedAt: "2026-12-01T00:00:00Z", message: "m" }] }),
      );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  url = `http://127.0.0.1:${address.port}`;
});

afterAll(() => {
  server.close();
});

/** Runs a tool from an empty folder (no `.dev.vars`), with exactly the given credentials. */
async function run(
  script: string,
  args: string[],
  credentials: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const cwd = await mkdtemp(join(tmpdir(), "tailor-access-"));
  const { ADMIN_TOKEN: _, TAILOR_ACCESS_CLIENT_ID: __, TAILOR_ACCESS_CLIENT_SECRET: ___, ...rest } = process.env;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", TSX_LOADER, join(ROOT, script), ...args, "--url", url],
      { cwd, env: { ...rest, ...credentials } },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }),
    );
  });
}

describe("Access service tokens for the command-line tools", () => {
  it("reads the service token from the environment and sends it as Access's headers", () => {
    const credentials = adminCredentials({ TAILOR_ACCESS_CLIENT_ID: CLIENT_ID, TAILOR_ACCESS_CLIENT_SECRET: CLIENT_SECRET });
    expect(credentials?.access).toEqual({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    expect(credentialHeaders({ access: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } })).toEqual({
      "cf-access-client-id": CLIENT_ID,
      "cf-access-client-secret": CLIENT_SECRET,
    });
  });

  it.each([
    ["only the id", { TAILOR_ACCESS_CLIENT_ID: CLIENT_ID }],
    ["only the secret", { TAILOR_ACCESS_CLIENT_SECRET: CLIENT_SECRET }],
    ["blank values", { TAILOR_ACCESS_CLIENT_ID: " ", TAILOR_ACCESS_CLIENT_SECRET: " " }],
  ])("%s: no service token is sent", (_, environment) => {
    expect(adminCredentials(environment)?.access).toBeUndefined();
  });

  it.each([
    ["scripts/rules.ts", ["versions"], /3 live/],
    ["scripts/replay.ts", ["--dry-run"], /0 dead letter/],
  ])("%s gets through Access with the service token alone", { timeout: 60_000 }, async (script, args, output) => {
    const result = await run(script, args, { TAILOR_ACCESS_CLIENT_ID: CLIENT_ID, TAILOR_ACCESS_CLIENT_SECRET: CLIENT_SECRET });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(output);
    expect(seen.at(-1)?.authorization).toBeUndefined();
  });

  it("rules erase-user sends the user id to the erasure route", { timeout: 60_000 }, async () => {
    const result = await run("scripts/rules.ts", ["erase-user", "customer-42@shop.example"], {
      TAILOR_ACCESS_CLIENT_ID: CLIENT_ID,
      TAILOR_ACCESS_CLIENT_SECRET: CLIENT_SECRET,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("pseudonym-of-the-user");
    expect(erasures.map((text) => JSON.parse(text))).toEqual([{ userId: "customer-42@shop.example" }]);
  });

  it("rules export writes every version and the list, for a scheduled backup", { timeout: 60_000 }, async () => {
    const folder = await mkdtemp(join(tmpdir(), "tailor-export-"));
    const result = await run("scripts/rules.ts", ["export", "--out", folder], {
      TAILOR_ACCESS_CLIENT_ID: CLIENT_ID,
      TAILOR_ACCESS_CLIENT_SECRET: CLIENT_SECRET,
    });
    expect(result.code).toBe(0);
    expect(JSON.parse(await readFile(join(folder, "v3.json"), "utf8"))).toEqual({ version: 3, rules: [] });
    expect(JSON.parse(await readFile(join(folder, "versions.json"), "utf8")).versions[0].version).toBe(3);
  });

  it("a wrong service token is turned away with a message naming the settings", { timeout: 60_000 }, async () => {
    const result = await run("scripts/rules.ts", ["versions"], {
      TAILOR_ACCESS_CLIENT_ID: CLIENT_ID,
      TAILOR_ACCESS_CLIENT_SECRET: "wrong",
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/TAILOR_ACCESS_CLIENT_ID/);
  });
});
