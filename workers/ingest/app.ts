/**
 * The ingest role: the tracker script and `POST /v1/events`.
 *
 * An accepted batch is answered 202 only after the visitor's Durable Object has stored it, and
 * then forwarded to the events queue for the Kafka bridge. Retries are safe: the Durable Object
 * skips `messageId`s it has seen, and every event (duplicates included) is forwarded again so
 * upstream receives it at least once and can drop repeats by id.
 * @module
 */
import { Hono } from "hono";
import type { z } from "zod";
import { normalizeMessage, type RecordedEvent } from "../../shared/events/recorded.ts";
import { SegmentBatch, SegmentMessage } from "../../shared/events/segment.ts";
import type { EventMessage } from "../../shared/feedback/messages.ts";
import { parseJson, readTextBody, requireJson } from "../common/body.ts";
import { Problem } from "../common/problem.ts";
import { identifyVisitor, visitorCookie } from "../common/visitor.ts";
import { TRACKER_SCRIPT } from "./tracker.generated.ts";

/** Largest accepted body; a full batch of 100 typical events is about 40 KB. */
export const MAX_BODY_BYTES = 256 * 1024;

export const ingestApp = new Hono<{ Bindings: Env }>();

ingestApp.get("/t.js", (context) =>
  context.body(TRACKER_SCRIPT, 200, {
    "content-type": "text/javascript; charset=utf-8",
    "cache-control": "public, max-age=300",
  }),
);

/** JSON pointers and messages for every schema violation, e.g. `/batch/3/messageId`. */
function schemaProblem(error: z.ZodError): Problem {
  const errors = error.issues.slice(0, 20).map((issue) => ({
    pointer: `/${issue.path.map((part) => String(part).replace(/~/g, "~0").replace(/\//g, "~1")).join("/")}`,
    detail: issue.message,
  }));
  const first = errors[0];
  return new Problem(422, {
    slug: "invalid-events",
    title: "Invalid events",
    detail: first === undefined ? "The events do not match the schema." : `${first.pointer}: ${first.detail}`,
    extensions: { errors },
  });
}

function parseMessages(body: unknown): SegmentMessage[] {
  const isBatch = body !== null && typeof body === "object" && !Array.isArray(body) && "batch" in body;
  const parsed = isBatch ? SegmentBatch.safeParse(body) : SegmentMessage.safeParse(body);
  if (!parsed.success) throw schemaProblem(parsed.error);
  return "batch" in parsed.data ? parsed.data.batch : [parsed.data];
}

function toQueueMessage(event: RecordedEvent, visitor: string): EventMessage {
  return {
    v: 1,
    kind: "event",
    id: event.messageId,
    visitor,
    type: event.type,
    event: event.event,
    category: event.category,
    productId: event.productId,
    path: event.path,
    receivedAt: new Date(event.receivedAt).toISOString(),
    clientTime: event.clientTime === null ? null : new Date(event.clientTime).toISOString(),
    // Identify traits may hold personal data; they stay in the visitor's own object.
    properties: event.type === "identify" ? {} : event.properties,
  };
}

ingestApp.post("/v1/events", async (context) => {
  const request = context.req.raw;
  requireJson(request);
  const messages = parseMessages(parseJson(await readTextBody(request, MAX_BODY_BYTES)));
  const visitor = await identifyVisitor(context, context.env.VISITOR_ID_SECRET);
  const receivedAt = Date.now();
  const events = messages.map((message) => normalizeMessage(message, receivedAt));

  const session = context.env.USER_SESSION.getByName(visitor.pseudonym);
  const outcome = await session.record(events);
  await context.env.EVENTS_QUEUE.sendBatch(
    events.map((event) => ({ body: toQueueMessage(event, visitor.pseudonym), contentType: "json" })),
  );

  if (visitor.isNew) context.header("set-cookie", visitorCookie(visitor.id, request.url));
  context.header("cache-control", "no-store");
  return context.json(outcome, 202);
});
