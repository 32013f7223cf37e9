/**
 * Tailor's visitors' Worker: wires the ingest and decision roles together, exports the queue
 * consumer and the Durable Object classes, and forwards `/admin` to the admin Worker
 * (`workers/admin/index.ts`) through the `ADMIN` service binding. Each role lives in its own
 * folder under `workers/`.
 * @module
 */
import { Hono } from "hono";
import { forwardToAdmin } from "./admin-forward.ts";
import { ADMIN_PREFIX, INTERNAL_API_PREFIX, INTERNAL_TRACKER_PATH, type Settings, settings } from "./common/config.ts";
import { handleError, Problem, problemResponse } from "./common/problem.ts";
import { decideApi, pageProxy } from "./decide/app.ts";
import { consumeQueue } from "./feedback/consumer.ts";
import { ingestApp } from "./ingest/app.ts";

export { DeadLetters } from "../durable-objects/dead-letters.ts";
export { ExperimentStats } from "../durable-objects/experiment-stats.ts";
export { ExposureMemory } from "../durable-objects/exposure-memory.ts";
export { ExposureOutbox } from "../durable-objects/exposure-outbox.ts";
export { RulesRegistry } from "../durable-objects/rules-registry.ts";
export { UserSession } from "../durable-objects/user-session.ts";

/** Tailor's own routes, written under their default paths; a path here that no route answers is a 404 problem. */
const tailorApp = new Hono<{ Bindings: Env }>();
tailorApp.onError(handleError);
tailorApp.route("/", ingestApp);
tailorApp.route("/", decideApi);
tailorApp.notFound((context) =>
  problemResponse(
    new Problem(404, { slug: "not-found", title: "Not found", detail: "Tailor has no such endpoint." }),
    new URL(context.req.url).pathname,
  ),
);

/** Everything else is the shop's: the page proxy. */
const proxyApp = new Hono<{ Bindings: Env }>();
proxyApp.onError(handleError);
proxyApp.route("/", pageProxy);

function isUnder(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

function decodedPath(pathname: string): string {
  try {
    // Hono matches routes on the decoded path, so Tailor's paths are recognised the same way.
    return decodeURI(pathname);
  } catch {
    return pathname;
  }
}

/**
 * The path Tailor's routes know a request by, or null when the request is the shop's. The API and
 * the tracker can be moved (`API_PREFIX`, `TRACKER_PATH`); the admin stays at `/admin`.
 */
function tailorPath(pathname: string, configured: Settings): string | null {
  const path = decodedPath(pathname);
  if (path === configured.TRACKER_PATH) return INTERNAL_TRACKER_PATH;
  if (isUnder(path, configured.API_PREFIX)) return INTERNAL_API_PREFIX + path.slice(configured.API_PREFIX.length);
  if (isUnder(path, ADMIN_PREFIX)) return path;
  return null;
}

function route(request: Request, env: Env, context: ExecutionContext): Response | Promise<Response> {
  const url = new URL(request.url);
  const internal = tailorPath(url.pathname, settings(env));
  if (internal === null) return proxyApp.fetch(request, env, context);
  // The admin Worker sees the path as Tailor's routes know it, as the admin routes here did.
  if (isUnder(internal, ADMIN_PREFIX)) {
    if (internal === url.pathname) return forwardToAdmin(request, env);
    url.pathname = internal;
    return forwardToAdmin(new Request(url, request), env);
  }
  if (internal !== url.pathname) {
    url.pathname = internal;
    return tailorApp.fetch(new Request(url, request), env, context);
  }
  return tailorApp.fetch(request, env, context);
}

export default {
  fetch: route,
  queue: consumeQueue,
} satisfies ExportedHandler<Env>;
