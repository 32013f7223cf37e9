/**
 * `/admin` on the visitors' Worker is the admin Worker, reached through the `ADMIN` service binding
 * (here a real binding to the admin Worker's entrypoint, test/support/worker/main.ts). When the
 * binding is missing or the admin Worker fails, `/admin` is a 503 problem (never the origin, never
 * a stack) and pages are served as ever.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../../workers/index.ts";
import { BASE, publishRules } from "../../support/worker/fixtures.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36" };

function send(path: string, init: RequestInit, testEnv: Env): Promise<Response> {
  return Promise.resolve(worker.fetch(new Request(new URL(path, BASE), init), testEnv, createExecutionContext()));
}

/** The real binding, with every request it carries recorded. */
function recordingBinding(): { binding: Fetcher; paths: string[] } {
  const paths: string[] = [];
  const binding = {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => {
      const forwarded = new Request(input, init);
      paths.push(new URL(forwarded.url).pathname);
      return env.ADMIN.fetch(forwarded);
    },
    connect: () => {
      throw new Error("not used");
    },
  } satisfies Fetcher;
  return { binding, paths };
}

/** Bindings that fail in the ways a service binding can: missing, throwing, rejecting with odd values. */
const BROKEN: { name: string; admin: Fetcher | undefined }[] = [
  { name: "missing", admin: undefined },
  ...[new Error("Worker threw exception"), new TypeError("Network connection lost."), "a string", null].map((reason) => ({
    name: `rejecting with ${String(reason)}`,
    admin: {
      fetch: () => Promise.reject(reason),
      connect: () => {
        throw new Error("not used");
      },
    } satisfies Fetcher,
  })),
  {
    name: "throwing synchronously",
    admin: {
      fetch: () => {
        throw new Error("Service binding not found");
      },
      connect: () => {
        throw new Error("not used");
      },
    } satisfies Fetcher,
  },
];

const ADMIN_PATHS = [
  "/admin",
  "/admin/",
  "/admin/api/rules",
  "/admin/api/openapi.json",
  "/admin/login",
  "/%61dmin/api/rules",
  "/ADMIN/../admin/api/rules",
];

describe("/admin through the visitors' Worker", () => {
  it.each([
    ["/admin/api/openapi.json", "/admin/api/openapi.json", 200],
    ["/admin/api/rules", "/admin/api/rules", 200],
    ["/%61dmin/api/rules", "/admin/api/rules", 200],
    ["/admin/no-such-thing", "/admin/no-such-thing", 404],
  ])("forwards %s to the admin Worker over the ADMIN binding", async (path, forwardedPath, status) => {
    const { binding, paths } = recordingBinding();
    const response = await send(path, { headers: ADMIN }, { ...env, ADMIN: binding });
    expect([response.status, paths]).toEqual([status, [forwardedPath]]);
    if (status === 200) expect(response.headers.get("content-type")).toContain("application/json");
  });

  it("reaches the admin Worker through the real service binding, redirects and all", async () => {
    // The binding itself is the admin Worker: it answers /admin paths, and only those.
    const direct = await env.ADMIN.fetch(new Request(`${BASE}/admin/api/openapi.json`, { headers: ADMIN }));
    expect(direct.status).toBe(200);
    const notAdmin = await env.ADMIN.fetch(new Request(`${BASE}/`, { headers: BROWSER }));
    expect([notAdmin.status, notAdmin.headers.get("content-type")]).toEqual([404, "application/problem+json"]);
    const openApi = await send("/admin/api/openapi.json", { headers: ADMIN }, env);
    expect(openApi.status).toBe(200);
    expect(((await openApi.json()) as { openapi?: string }).openapi).toMatch(/^3\./);
    const signIn = await send("/admin", { headers: { accept: "text/html" } }, env);
    // The browser gets the redirect; the binding does not follow it.
    expect([signIn.status, signIn.headers.get("location")]).toEqual([303, "/admin/login"]);
  });

  it.each(BROKEN)("answers a 503 problem on every /admin path when the binding is $name, and pages still serve", async ({ admin }) => {
    await publishRules();
    const broken = { ...env, ADMIN: admin } as Env;
    for (const path of ADMIN_PATHS) {
      for (const method of ["GET", "POST"]) {
        const response = await send(path, { method, headers: ADMIN, ...(method === "POST" ? { body: "{}" } : {}) }, broken);
        const body = await response.text();
        expect([path, method, response.status, response.headers.get("content-type")]).toEqual([
          path,
          method,
          503,
          "application/problem+json",
        ]);
        expect(JSON.parse(body)).toMatchObject({ status: 503, title: "Admin unavailable" });
        // Not the shop's page, and nothing of the failure's insides.
        expect(body).not.toMatch(/<html|Autumn essentials|at .*\.ts|Worker threw|Network connection|Service binding/);
      }
    }
    const page = await send("/", { headers: BROWSER }, broken);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('data-slot="hero"');
  });
});
