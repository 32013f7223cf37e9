/**
 * The admin role: the web editor at `/admin` and the API at `/admin/api` (described at
 * `/admin/api/openapi.json`, readable at `/admin/api/docs`). Everything but the sign-in page and
 * the editor's static assets requires authentication (`auth.ts`); every response carries strict
 * security headers.
 * @module
 */
import { Hono } from "hono";
import { deleteCookie } from "hono/cookie";
import type { ExperimentReport } from "../../durable-objects/experiment-stats.ts";
import { diffDocuments } from "../../shared/rules/diff.ts";
import { Problem } from "../common/problem.ts";
import { readLiveDocument, rulesStatus } from "../decide/rules-store.ts";
import { adminApi } from "./api.ts";
import {
  type AdminVariables,
  adminSecurityHeaders,
  createSession,
  isAdminToken,
  requireAdmin,
  SESSION_COOKIE,
  sessionCookie,
} from "./auth.ts";
import { openApiDocument, openApiPage } from "./openapi.ts";
import { ADMIN_SCRIPT } from "./ui/client.generated.ts";
import { DashboardPage, JsonEditorPage, LoginPage, RuleEditorPage, VersionsPage } from "./ui/pages.tsx";
import { ADMIN_CSS } from "./ui/styles.ts";

export const adminApp = new Hono<{ Bindings: Env; Variables: AdminVariables }>();

adminApp.use("/admin/*", adminSecurityHeaders());
adminApp.use("/admin", adminSecurityHeaders());

// Open: the sign-in page and the static assets it needs.
adminApp.get("/admin/assets/admin.js", (context) => context.body(ADMIN_SCRIPT, 200, { "content-type": "text/javascript; charset=utf-8" }));
adminApp.get("/admin/assets/admin.css", (context) => context.body(ADMIN_CSS, 200, { "content-type": "text/css; charset=utf-8" }));
adminApp.get("/admin/login", (context) => context.html(<LoginPage />));

adminApp.post("/admin/login", async (context) => {
  // The form must come from this site (no cross-site sign-in).
  // Browsers say where a form came from in Sec-Fetch-Site; Origin is "null" under our no-referrer policy.
  const site = context.req.header("sec-fetch-site");
  const origin = context.req.header("origin");
  const host = context.req.header("host") ?? new URL(context.req.url).host;
  const crossSite =
    site !== undefined
      ? site !== "same-origin" && site !== "none"
      : origin !== undefined && origin !== "null" && new URL(origin).host !== host;
  if (crossSite) throw new Problem(403, { slug: "cross-site", title: "Cross-site request", detail: "Sign in from Tailor's own page." });
  const form = await context.req.parseBody();
  const token = typeof form.token === "string" ? form.token : "";
  const name =
    typeof form.name === "string"
      ? form.name
          .replace(/[^\p{L}\p{N} .@_-]/gu, "")
          .trim()
          .slice(0, 100)
      : "";
  if (!isAdminToken(token, context.env.ADMIN_TOKEN) || name === "") {
    return context.html(<LoginPage error="That token is not right, or the name is missing." />, 401);
  }
  context.header("set-cookie", sessionCookie(await createSession(name, token, Date.now()), context.req.url));
  return context.redirect("/admin", 303);
});

adminApp.use("/admin/*", requireAdmin());
adminApp.use("/admin", requireAdmin());

adminApp.post("/admin/logout", (context) => {
  deleteCookie(context, SESSION_COOKIE, { path: "/admin" });
  return context.redirect("/admin/login", 303);
});

adminApp.get("/admin/api/openapi.json", (context) => context.json(openApiDocument()));
adminApp.get("/admin/api/docs", (context) => context.html(openApiPage()));
adminApp.route("/", adminApi);

adminApp.get("/admin", async (context) => {
  const live = await readLiveDocument(context.env);
  const reports: Record<string, ExperimentReport | null> = {};
  for (const [id, experiment] of Object.entries(live?.document.experiments ?? {})) {
    reports[id] = await context.env.EXPERIMENT_STATS.getByName(id)
      .report(experiment.variants, experiment.weights)
      .catch(() => null);
  }
  return context.html(
    <DashboardPage
      csrf={context.get("csrf")}
      actor={context.get("actor")}
      live={live}
      refused={rulesStatus().refused ?? null}
      reports={reports}
    />,
  );
});

adminApp.get("/admin/versions", async (context) => {
  const versions = await context.env.RULES_REGISTRY.getByName("registry").versions();
  const changes: Record<number, string[]> = {};
  for (const [index, version] of versions.entries()) {
    const previous = versions[index + 1];
    if (previous === undefined) continue;
    const [before, after] = await Promise.all([
      context.env.RULES.get(`rules:version:${previous.version}`, "json"),
      context.env.RULES.get(`rules:version:${version.version}`, "json"),
    ]);
    changes[version.version] = diffDocuments(before, after).map((change) => `${change.change} ${change.pointer}`);
  }
  return context.html(<VersionsPage csrf={context.get("csrf")} versions={versions} changes={changes} />);
});

adminApp.get("/admin/json", async (context) => {
  const live = await readLiveDocument(context.env);
  return context.html(<JsonEditorPage csrf={context.get("csrf")} document={live?.document ?? null} liveVersion={live?.version ?? null} />);
});

adminApp.get("/admin/rules/:id", async (context) => {
  const id = context.req.param("id");
  const live = await readLiveDocument(context.env);
  const isNew = id === "new";
  const rule = isNew ? null : (live?.document.rules.find((candidate) => candidate.id === id) ?? null);
  if (!isNew && rule === null)
    throw new Problem(404, { slug: "unknown-rule", title: "Unknown rule", detail: `The live rules have no rule "${id}".` });
  return context.html(
    <RuleEditorPage
      csrf={context.get("csrf")}
      document={live?.document ?? null}
      liveVersion={live?.version ?? null}
      rule={rule}
      isNew={isNew}
    />,
  );
});
