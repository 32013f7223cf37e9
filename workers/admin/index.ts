/**
 * The admin Worker (wrangler.admin.toml): the editor, the API, the OpenAPI description and
 * publishing with full validation. It has no route of its own: the visitors' Worker forwards
 * `/admin` and `/admin/*` to it through its `ADMIN` service binding, so the hostname, the admin
 * cookie and Cloudflare Access in front of `/admin` are what they were. Living apart keeps the
 * HTML parser, the regex analyser and the editor out of the bundle every visitor's isolate loads
 * (docs/decisions/0016-admin-worker-signed-rules.md).
 * @module
 */
import { Hono } from "hono";
import { ADMIN_PREFIX } from "../common/config.ts";
import { handleError, Problem, problemResponse } from "../common/problem.ts";
import { adminApp } from "./app.tsx";

const app = new Hono<{ Bindings: Env }>();
app.onError(handleError);
app.route("/", adminApp);
app.notFound((context) => {
  const path = new URL(context.req.url).pathname;
  // Only /admin is forwarded here; anything else reached this Worker some other way.
  const detail = path === ADMIN_PREFIX || path.startsWith(`${ADMIN_PREFIX}/`) ? "Tailor has no such endpoint." : "Not an admin path.";
  return problemResponse(new Problem(404, { slug: "not-found", title: "Not found", detail }), path);
});

export default {
  fetch: (request, env, context) => app.fetch(request, env, context),
} satisfies ExportedHandler<Env>;
