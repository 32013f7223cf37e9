/**
 * Erasure on request by user id: `POST /admin/api/users/erase` with `{"userId": "…"}` deletes what
 * Tailor keeps about that user (the user's Durable Object: events, counters, traits, and the
 * exposures remembered for them). It is the operator's route for a request that reaches the shop
 * by e-mail or support desk; the visitor's own route (`DELETE /v1/profile`) needs an identity proof
 * instead. Admin authentication stands in for the proof here.
 *
 * The user id is never stored: the object is named by its pseudonym (HMAC under
 * `VISITOR_ID_SECRET`), and the audit log records that pseudonym, so the erasure can be shown to
 * have happened without keeping whom it was for in clear.
 * @module
 */
import { Hono } from "hono";
import * as z from "../../shared/zod.ts";
import { placed } from "../common/placement.ts";
import { pseudonymFor } from "../common/visitor.ts";
import { body } from "./api.ts";
import type { AdminVariables } from "./auth.ts";

/** The body of an erasure request: the site's own user id, as its identity proofs name it. */
export const UserErasureRequest = z.strictObject({
  userId: z.string().check(z.minLength(1), z.maxLength(128)),
});
export type UserErasureRequest = z.infer<typeof UserErasureRequest>;

/** The answer: erased, and the pseudonym under which the audit log records it. */
export const UserErasureResponse = z.object({ erased: z.literal(true), subject: z.string() });
export type UserErasureResponse = z.infer<typeof UserErasureResponse>;

/** The erasure route, mounted behind `requireAdmin`. */
export const erasureApi = new Hono<{ Bindings: Env; Variables: AdminVariables }>();

erasureApi.post("/admin/api/users/erase", async (context) => {
  const { env } = context;
  const { userId } = await body(context, UserErasureRequest);
  // The same name the ingest path gives a proven user (`workers/common/identity.ts`).
  const subject = await pseudonymFor(`user:${userId}`, env.VISITOR_ID_SECRET);
  await placed(env.USER_SESSION, env).getByName(subject).erase([subject]);
  await placed(env.RULES_REGISTRY, env)
    .getByName("registry")
    .note({ actor: context.get("actor"), action: "erase-user", version: null, detail: `user pseudonym ${subject}` });
  context.header("cache-control", "no-store");
  return context.json({ erased: true, subject } satisfies UserErasureResponse);
});
