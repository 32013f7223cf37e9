/**
 * The Worker the `workerd` test project runs: the visitors' Worker exactly as deployed, plus the
 * admin Worker as a named entrypoint of the same script, which the `ADMIN` service binding points
 * at (vitest.config.ts). A request to `/admin` thus goes through a real service binding, as in
 * production, while both run in one isolate: the admin tests keep seeing the rules the page
 * tests publish, and `forgetRules()` in a test reaches both.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import admin from "../../../workers/admin/index.ts";

export * from "../../../workers/index.ts";
export { default } from "../../../workers/index.ts";

/** The admin Worker's handler behind the `ADMIN` binding. */
export class AdminWorker extends WorkerEntrypoint<Env> {
  override fetch(request: Request): Promise<Response> {
    return Promise.resolve(admin.fetch(request as Request<unknown, IncomingRequestCfProperties>, this.env, this.ctx));
  }
}
