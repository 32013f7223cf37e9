/**
 * `/admin` in the visitors' Worker: the request goes, unchanged, to the admin Worker through the
 * `ADMIN` service binding (same hostname, so the admin cookie and Cloudflare Access work as
 * before). When the binding is missing or the admin Worker fails, the answer is a 503 problem:
 * never the origin (the shop must not receive admin requests and their credentials), never a 500
 * with a stack. Pages do not depend on the admin Worker at all.
 * @see https://developers.cloudflare.com/workers/runtime-apis/bindings/service-bindings/
 * @module
 */
import { Problem, problemResponse } from "./common/problem.ts";

function adminUnavailable(request: Request): Response {
  return problemResponse(
    new Problem(503, {
      slug: "admin-unavailable",
      title: "Admin unavailable",
      detail: "The admin Worker cannot be reached; visitors' pages are not affected. Try again shortly.",
    }),
    new URL(request.url).pathname,
  );
}

/** Forwards an `/admin` request to the admin Worker, or answers 503 when it cannot. */
export async function forwardToAdmin(request: Request, env: Pick<Env, "ADMIN">): Promise<Response> {
  const admin = (env as Partial<Pick<Env, "ADMIN">>).ADMIN;
  if (admin === undefined) {
    console.error(JSON.stringify({ message: "admin forward failed", reason: "ADMIN binding missing" }));
    return adminUnavailable(request);
  }
  try {
    // "manual": the admin's redirects (to the sign-in page, after a sign-in) are for the browser;
    // a fetch through the binding would otherwise follow them itself.
    return await admin.fetch(new Request(request, { redirect: "manual" }));
  } catch (error) {
    console.error(JSON.stringify({ message: "admin forward failed", error: String(error) }));
    return adminUnavailable(request);
  }
}
