/**
 * The admin role: the API marketers' tools and operators use. Every route requires the admin token.
 * @module
 */
import { Hono } from "hono";
import { Problem } from "../common/problem.ts";
import { readLiveDocument } from "../decide/rules-store.ts";
import { requireAdmin } from "./auth.ts";

export const adminApp = new Hono<{ Bindings: Env }>();

adminApp.use("/admin/*", requireAdmin());

/** Dead letters waiting, by queue and reason, with a sample. */
adminApp.get("/admin/api/dead-letters", async (context) => context.json(await context.env.DEAD_LETTERS.getByName("all").summary()));

/** Sends dead letters back to their queues (after the cause is fixed). */
adminApp.post("/admin/api/dead-letters/replay", async (context) => {
  const limit = Number(context.req.query("limit") ?? "1000");
  return context.json(await context.env.DEAD_LETTERS.getByName("all").replay(Number.isFinite(limit) ? limit : 1_000));
});

/** Live counts per variant and the sample ratio check for one experiment of the live rules. */
adminApp.get("/admin/api/experiments/:id", async (context) => {
  const id = context.req.param("id");
  const live = await readLiveDocument(context.env.RULES);
  const experiment = live?.document.experiments[id];
  if (experiment === undefined)
    throw new Problem(404, {
      slug: "unknown-experiment",
      title: "Unknown experiment",
      detail: `The live rules have no experiment "${id}".`,
    });
  const report = await context.env.EXPERIMENT_STATS.getByName(id).report(experiment.variants, experiment.weights);
  return context.json({ id, allocation: experiment.allocation, weights: experiment.weights ?? null, ...report });
});
