/**
 * The admin role: the web editor at `/admin` and the API at `/admin/api` (described at
 * `/admin/api/openapi.json`, readable at `/admin/api/docs`). Everything but the sign-in page and
 * the editor's static assets requires authentication (`auth.ts`); every response carries strict
 * security headers.
 * @module
 */

import { type Context, Hono } from "hono";
import { diffDocuments } from "../../shared/rules/diff.ts";
import { versionsLiveBefore } from "../../shared/rules/history.ts";
import { readTextBody } from "../common/body.ts";
import { placed } from "../common/placement.ts";
import { Problem } from "../common/problem.ts";
import { readLiveDocument, readVersion, rulesStatus } from "../common/rules-store.ts";
import { validateDocument } from "../common/validate.ts";
import { pseudonymFor } from "../common/visitor.ts";
import { adminApi, guardSummary, healthReport, liveWarnings } from "./api.ts";
import { type AdminVariables, closeSession, isAdminToken, openSession, refuseSignInWhenAccessOnly, requireAdmin } from "./auth.ts";
import { erasureApi } from "./erasure.ts";
import { type ExperimentReportView, experimentReport } from "./experiment-report.ts";
import { openApiDocument, openApiPage } from "./openapi.ts";
import { adminSecurityHeaders, refuseCrossSiteChanges } from "./security.ts";
import { ADMIN_SCRIPT } from "./ui/client.generated.ts";
import { DashboardPage, HealthPage, JsonEditorPage, LoginPage, RuleEditorPage, type VersionRow, VersionsPage } from "./ui/pages.tsx";
import { ADMIN_CSS } from "./ui/styles.ts";

export const adminApp = new Hono<{ Bindings: Env; Variables: AdminVariables }>();

adminApp.use("/admin/*", adminSecurityHeaders());
adminApp.use("/admin", adminSecurityHeaders());

// Open: the sign-in page and the static assets it needs.
adminApp.get("/admin/assets/admin.js", (context) => context.body(ADMIN_SCRIPT, 200, { "content-type": "text/javascript; charset=utf-8" }));
adminApp.get("/admin/assets/admin.css", (context) => context.body(ADMIN_CSS, 200, { "content-type": "text/css; charset=utf-8" }));
adminApp.use("/admin/login", refuseSignInWhenAccessOnly());
adminApp.get("/admin/login", (context) => context.html(<LoginPage />));

/** The largest sign-in or sign-out form accepted; a real one is a few hundred bytes. */
const MAX_FORM_BYTES = 16 * 1024;

/** The sign-in page's answer after too many attempts: the form again, with a 429 and Retry-After. */
async function signInLimited(context: Context<{ Bindings: Env; Variables: AdminVariables }>, name: string): Promise<boolean> {
  const { env } = context;
  const address = context.req.header("cf-connecting-ip") ?? "unknown";
  // Both keys are pseudonyms: neither the address nor the name is kept by the limiter in clear.
  const [byAddress, byName] = await Promise.all([
    env.SIGN_IN_RATE_LIMITER.limit({ key: `address:${await pseudonymFor(`ip:${address}`, env.VISITOR_ID_SECRET)}` }),
    env.SIGN_IN_RATE_LIMITER.limit({ key: `name:${await pseudonymFor(`name:${name.toLowerCase()}`, env.VISITOR_ID_SECRET)}` }),
  ]);
  return !byAddress.success || !byName.success;
}

// The form must come from this origin (no cross-site sign-in).
adminApp.post("/admin/login", refuseCrossSiteChanges("Sign in from Tailor's own page."), async (context) => {
  const form = new URLSearchParams(await readTextBody(context.req.raw, MAX_FORM_BYTES));
  const token = form.get("token") ?? "";
  const name = (form.get("name") ?? "")
    .replace(/[^\p{L}\p{N} .@_-]/gu, "")
    .trim()
    .slice(0, 100);
  if (await signInLimited(context, name)) {
    throw new Problem(429, {
      slug: "too-many-sign-in-attempts",
      title: "Too many sign-in attempts",
      detail: "Too many sign-in attempts from this address or for this name; try again in a minute.",
      headers: { "retry-after": "60" },
    });
  }
  if (!(await isAdminToken(token, context.env.ADMIN_TOKEN)) || name === "") {
    return context.html(<LoginPage error="That token is not right, or the name is missing." />, 401);
  }
  await openSession(context, name, Date.now());
  return context.redirect("/admin", 303);
});

adminApp.use("/admin/*", requireAdmin());
adminApp.use("/admin", requireAdmin());

adminApp.post("/admin/logout", async (context) => {
  // Server-side: the session is closed in the registry, so a copy of the cookie stops working too.
  await closeSession(context, Date.now());
  return context.redirect("/admin/login", 303);
});

adminApp.get("/admin/api/openapi.json", (context) => context.json(openApiDocument()));
adminApp.get("/admin/api/docs", (context) => context.html(openApiPage()));
adminApp.route("/", adminApi);
adminApp.route("/", erasureApi);

adminApp.get("/admin", async (context) => {
  const live = await readLiveDocument(context.env);
  const reports: Record<string, ExperimentReportView | null> = {};
  for (const [id, experiment] of Object.entries(live?.document.experiments ?? {})) {
    reports[id] = await experimentReport(context.env, id, experiment).catch(() => null);
  }
  return context.html(
    <DashboardPage
      csrf={context.get("csrf")}
      actor={context.get("actor")}
      live={live}
      refused={rulesStatus().refused ?? null}
      warnings={liveWarnings()}
      reports={reports}
      guard={await guardSummary(context.env)}
    />,
  );
});

adminApp.get("/admin/health", async (context) =>
  context.html(<HealthPage csrf={context.get("csrf")} health={await healthReport(context.env, 15)} />),
);

adminApp.get("/admin/versions", async (context) => {
  const registry = placed(context.env.RULES_REGISTRY, context.env).getByName("registry");
  const [versions, replaced] = await Promise.all([registry.versions(), registry.replacedVersions()]);
  const stored = new Map(
    await Promise.all(versions.map(async ({ version }) => [version, await readVersion(context.env, version)] as const)),
  );
  // Refused: what the loader would not serve (not JSON, not signed by a publish, or not a valid document); such a version
  // never served, so it is no base for a comparison and cannot be made live again.
  const refused = new Set(
    versions
      .filter(({ version }) => {
        const raw = stored.get(version);
        return raw === undefined || !raw.ok || !raw.signed || !validateDocument(raw.value).ok;
      })
      .map(({ version }) => version),
  );
  const bases = versionsLiveBefore(
    versions.map(({ version }) => version),
    new Map(replaced.map((row) => [row.version, row.replaced])),
    refused,
  );
  const rows: VersionRow[] = versions.map((info) => {
    const base = bases.get(info.version) ?? null;
    const before = base === null ? undefined : stored.get(base);
    const after = stored.get(info.version);
    let changes: string[] = [];
    // A version someone wrote by hand may not be JSON: say so on that row, and keep the page.
    if (after === undefined || !after.ok) changes = [`cannot compare: version ${info.version} is not JSON`];
    else if (before !== undefined && !before.ok) changes = [`cannot compare: version ${base} is not JSON`];
    else if (before !== undefined) changes = diffDocuments(before.value, after.value).map((change) => `${change.change} ${change.pointer}`);
    return { ...info, base, refused: refused.has(info.version), changes };
  });
  return context.html(<VersionsPage csrf={context.get("csrf")} versions={rows} />);
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
