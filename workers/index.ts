/**
 * Tailor's single Worker: wires the role sub-apps together and exports the queue consumer and
 * the Durable Object classes. Each role lives in its own folder under `workers/`.
 * @module
 */
import { Hono } from "hono";
import { adminApp } from "./admin/app.tsx";
import { handleError } from "./common/problem.ts";
import { decideApp } from "./decide/app.ts";
import { consumeQueue } from "./feedback/consumer.ts";
import { ingestApp } from "./ingest/app.ts";

export { DeadLetters } from "../durable-objects/dead-letters.ts";
export { ExperimentStats } from "../durable-objects/experiment-stats.ts";
export { ExposureMemory } from "../durable-objects/exposure-memory.ts";
export { RulesRegistry } from "../durable-objects/rules-registry.ts";
export { UserSession } from "../durable-objects/user-session.ts";

const app = new Hono<{ Bindings: Env }>();
app.onError(handleError);
app.route("/", ingestApp);
app.route("/", adminApp);
// Last: the decision role proxies everything no other role answers.
app.route("/", decideApp);

export default {
  fetch: app.fetch,
  queue: consumeQueue,
} satisfies ExportedHandler<Env>;
