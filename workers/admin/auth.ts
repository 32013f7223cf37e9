/**
 * Admin authentication: every `/admin` route needs `Authorization: Bearer <ADMIN_TOKEN>`. Failures
 * are 401 problems that say nothing about which part was wrong.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { Problem } from "../common/problem.ts";

const MIN_TOKEN_LENGTH = 16;

/** Compares in time independent of where the strings differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = new TextEncoder().encode(a);
  const right = new TextEncoder().encode(b);
  let difference = left.length ^ right.length;
  for (let index = 0; index < Math.max(left.length, right.length); index++) difference |= (left[index] ?? 0) ^ (right[index] ?? 0);
  return difference === 0;
}

export function isAdmin(authorization: string | undefined, token: string | undefined): boolean {
  if (token === undefined || token.length < MIN_TOKEN_LENGTH || authorization === undefined) return false;
  return constantTimeEqual(authorization, `Bearer ${token}`);
}

/** Refuses the request with 401 unless it carries the admin token. */
export function requireAdmin(): MiddlewareHandler<{ Bindings: Env }> {
  return async function requireAdminToken(context, next) {
    if (!isAdmin(context.req.header("authorization"), context.env.ADMIN_TOKEN)) {
      throw new Problem(401, {
        slug: "unauthorized",
        title: "Unauthorized",
        detail: "Send the admin token as Authorization: Bearer <token>.",
        headers: { "www-authenticate": 'Bearer realm="tailor-admin"' },
      });
    }
    await next();
  };
}
