/**
 * Errors on the wire are RFC 9457 problem details (`application/problem+json`). Route code throws
 * one `Problem`; the app's error handler renders it. The public `detail` is written for the
 * client; internal reasons go to logs and metrics only.
 * @see https://www.rfc-editor.org/rfc/rfc9457
 * @module
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export interface ProblemOptions {
  /** A short, stable identifier for the kind of problem; becomes `type` (`/problems/<slug>`). */
  slug: string;
  title: string;
  detail?: string;
  /** Extension members, e.g. `errors` with JSON pointers to offending fields. */
  extensions?: Record<string, unknown>;
  headers?: Record<string, string>;
}

export class Problem extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly options: ProblemOptions,
  ) {
    super(options.detail ?? options.title);
    this.name = "Problem";
  }
}

/** Renders a problem as an `application/problem+json` response. */
export function problemResponse(problem: Problem, instance?: string): Response {
  const { slug, title, detail, extensions, headers } = problem.options;
  const body = {
    type: `/problems/${slug}`,
    title,
    status: problem.status,
    ...(detail === undefined ? {} : { detail }),
    ...(instance === undefined ? {} : { instance }),
    ...extensions,
  };
  return new Response(JSON.stringify(body), {
    status: problem.status,
    headers: { "content-type": "application/problem+json", "cache-control": "no-store", ...headers },
  });
}

/** The app-wide error handler: problems are rendered, anything else is logged and becomes a 500 problem. */
export function handleError(error: Error, context: Context): Response {
  if (error instanceof Problem) return problemResponse(error, new URL(context.req.url).pathname);
  console.error(JSON.stringify({ message: "unhandled error", path: new URL(context.req.url).pathname, error: String(error) }));
  return problemResponse(new Problem(500, { slug: "internal", title: "Internal error", detail: "The request could not be completed." }));
}
