/**
 * The queue consumer: delivers events and feedback to the Kafka REST bridge, and once delivered,
 * feeds the learning loop (experiment counts), the visitors' exposure memory (for attributing
 * conversions) and Analytics Engine.
 *
 * A message is acknowledged only once the proxy has confirmed every record it stands for and its
 * experiment counts and exposure memory are written (a failure there retries the message). When the
 * proxy is unavailable (5xx, 408, 429, timeout) or refuses single records, the message is retried
 * through the queue with a delay that doubles per attempt up to an hour; after the queue's
 * `max_retries` (about 3.7 days of retries) it goes to the dead-letter queue. A message that can never succeed — malformed, or refused by the proxy
 * on its own — is dead-lettered at once, with the reason, and never holds up the rest of its batch.
 * The dead-letter queue's own consumer keeps the letters in the `DeadLetters` Durable Object for
 * replay.
 * @module
 */
import type { DeadLetter } from "../../durable-objects/dead-letters.ts";
import type { StatsDelivery, StatsUpdate } from "../../durable-objects/experiment-stats.ts";
import { attributionWindowMs, type RememberedDecision, recallExposures, rememberExposures } from "../../durable-objects/exposure-memory.ts";
import { clickFor } from "../../shared/feedback/attribution.ts";
import {
  type ClickClaimMessage,
  type ClickMessage,
  type DecisionBatchMessage,
  exposureRecords,
  type QueueMessage,
  QueueMessage as QueueMessageSchema,
  UNTRACKED_VISITORS,
} from "../../shared/feedback/messages.ts";
import { recordDelivery, recordExposure, recordFeedback } from "../common/analytics.ts";
import { settings } from "../common/config.ts";
import { addExperimentUpdates } from "../common/experiment-shards.ts";
import { placed } from "../common/placement.ts";
import { produceRecords, producerOptions, type RecordOutcome } from "./kafka-rest.ts";
import { MergedPoints } from "./merged-points.ts";
import { retryDelaySeconds } from "./retry-policy.ts";

const DEAD_LETTER_QUEUE_NAME = "tailor-dead-letter";
const SOURCE_QUEUES = ["tailor-events", "tailor-feedback"] as const;
type SourceQueue = (typeof SOURCE_QUEUES)[number];

function sourceQueue(name: string): SourceQueue | null {
  return SOURCE_QUEUES.find((queue) => name === queue || name.endsWith(queue.slice("tailor".length))) ?? null;
}

interface Valid {
  message: Message<unknown>;
  body: QueueMessage;
}

interface KafkaRecordOf {
  owner: number;
  key: string;
  value: unknown;
}

/** One Kafka record per event and per exposure; a queue message may stand for several. */
function recordsOf(valid: readonly Valid[]): KafkaRecordOf[] {
  return valid.flatMap(({ body }, owner): KafkaRecordOf[] => {
    switch (body.kind) {
      case "events":
        return body.events.map((event) => ({ owner, key: body.visitor, value: event }));
      case "exposures":
        return exposureRecords(body).map((exposure) => ({ owner, key: body.visitor, value: exposure }));
      case "decisions":
        return body.decisions.flatMap((decision) =>
          exposureRecords(decision).map((exposure) => ({ owner, key: decision.visitor, value: exposure })),
        );
      default:
        return [{ owner, key: body.visitor, value: body }];
    }
  });
}

/**
 * How often a click claim is looked at before it is dropped: its exposure is normally remembered
 * within seconds, and with the retry delays (2, 4, 8 s by default) this waits about 14 s for it.
 */
const CLICK_CLAIM_ATTEMPTS = 4;

/**
 * The click a claim stands for, if the visitor's exposure is remembered by now; null when it is
 * not; throws when the memory cannot be read.
 */
async function attributeClaim(env: Env, claim: ClickClaimMessage): Promise<ClickMessage | null> {
  const exposures = await recallExposures(env, [claim.visitor, ...claim.aliases]);
  return clickFor({ ...claim, at: Date.parse(claim.at) }, exposures, attributionWindowMs(env));
}

type Delivery = { outcome: "delivered" } | { outcome: "retry"; detail: string } | { outcome: "dead"; reason: string; detail: string };

/** Produces the messages' records; says, per message, whether it got through. */
async function deliver(env: Env, topic: string, valid: readonly Valid[]): Promise<Delivery[]> {
  const records = recordsOf(valid);
  const result = await produceRecords(producerOptions(env), topic, records);
  if (!result.ok) {
    const { error } = result;
    if (error.kind === "unavailable")
      return valid.map(() => ({ outcome: "retry", detail: `${error.status ?? "network"}: ${error.detail}` }));
    // Refused as sent. Alone, the message is at fault; in company, find out which one is.
    if (valid.length === 1) return [{ outcome: "dead", reason: `refused-${error.status}`, detail: error.detail }];
    return (await Promise.all(valid.map((one) => deliver(env, topic, [one])))).flat();
  }
  const failed = new Map<number, RecordOutcome>();
  result.value.forEach((outcome, index) => {
    const owner = records[index]?.owner;
    if (!outcome.delivered && owner !== undefined) failed.set(owner, outcome);
  });
  return valid.map((_, owner): Delivery => {
    const outcome = failed.get(owner);
    return outcome === undefined || outcome.delivered
      ? { outcome: "delivered" }
      : { outcome: "retry", detail: `record error ${outcome.errorCode}: ${outcome.error}` };
  });
}

/** What a queue message stands for once a `decisions` batch is opened into its decisions. */
type LoggedMessage = Exclude<QueueMessage, DecisionBatchMessage>;

/** A delivered message opened up: each logged message with the queue message it came in. */
interface Logged {
  message: Message<unknown>;
  /** `<kind>:<id>` of the queue message's body: the same on every redelivery of it. */
  delivery: string;
  body: LoggedMessage;
}

function unbatched(delivered: readonly Valid[]): Logged[] {
  return delivered.flatMap(({ message, body }) => {
    const delivery = `${body.kind}:${body.id}`;
    return body.kind === "decisions"
      ? body.decisions.map((decision) => ({ message, delivery, body: decision }))
      : [{ message, delivery, body }];
  });
}

/**
 * The first copy of each queue message body (by `<kind>:<id>`), and for every later copy the first
 * one it repeats. A producer that retried a send whose reply was lost (workers/decide/exposure-log.ts)
 * can put two copies in one batch; counted together they would be one delivery with twice the
 * updates, so only the first is counted and the copies share its fate.
 */
function firstCopies(delivered: readonly Valid[]): { firsts: Valid[]; copyOf: Map<Message<unknown>, Message<unknown>> } {
  const byDelivery = new Map<string, Message<unknown>>();
  const firsts: Valid[] = [];
  const copyOf = new Map<Message<unknown>, Message<unknown>>();
  for (const entry of delivered) {
    const key = `${entry.body.kind}:${entry.body.id}`;
    const first = byDelivery.get(key);
    if (first === undefined) {
      byDelivery.set(key, entry.message);
      firsts.push(entry);
    } else copyOf.set(entry.message, first);
  }
  return { firsts, copyOf };
}

/** One experiment's updates, per queue message, and the queue messages they came from. */
interface ExperimentWork {
  deliveries: Map<string, StatsDelivery>;
  owners: Set<Message<unknown>>;
}

/**
 * Experiment counts for what was delivered: exposures are trials (with the bandit's shares when it
 * assigned them), clicks successes, conversions conversions; grouped by queue message, which the
 * experiment's object remembers instead of every record.
 */
function statsUpdates(delivered: readonly Logged[]): Map<string, ExperimentWork> {
  const byExperiment = new Map<string, ExperimentWork>();
  const add = (logged: Logged, experiment: string | null, variant: string | null, update: Omit<StatsUpdate, "variant">) => {
    if (experiment === null || variant === null) return;
    const work = byExperiment.get(experiment) ?? { deliveries: new Map(), owners: new Set() };
    const delivery = work.deliveries.get(logged.delivery) ?? { delivery: logged.delivery, updates: [] };
    delivery.updates.push({ ...update, variant });
    work.deliveries.set(logged.delivery, delivery);
    work.owners.add(logged.message);
    byExperiment.set(experiment, work);
  };
  for (const logged of delivered) {
    const { body } = logged;
    if (body.kind === "exposures" && !body.holdout) {
      for (const exposure of exposureRecords(body)) {
        const allocation = exposure.experiment === null ? undefined : body.allocations?.[exposure.experiment];
        add(logged, exposure.experiment, exposure.variant, {
          id: exposure.id,
          trials: 1,
          successes: 0,
          conversions: 0,
          revenue: 0,
          ...(allocation === undefined ? {} : { allocation }),
        });
      }
    }
    if (body.kind === "click")
      add(logged, body.experiment, body.variant, { id: body.id, trials: 0, successes: 1, conversions: 0, revenue: 0 });
    if (body.kind === "conversion")
      add(logged, body.experiment, body.variant, { id: body.id, trials: 0, successes: 0, conversions: 1, revenue: body.value ?? 0 });
  }
  return byExperiment;
}

/**
 * After delivery: experiment counts and the visitors' exposure memory, then analytics. Returns the
 * queue messages whose updates failed: they are retried rather than acknowledged, since counts and
 * memory are applied once by id, a retry repeats only what is missing (upstream sees the records
 * again, with the same ids). Analytics are written only for the messages that are done, so a retry
 * does not count them twice.
 */
async function afterDelivery(env: Env, analytics: MergedPoints, delivered: readonly Logged[]): Promise<Set<Message<unknown>>> {
  const memories: RememberedDecision[] = [];
  const remembering = new Set<Message<unknown>>();
  for (const { message, body } of delivered) {
    if (body.kind === "exposures" && body.visitor !== UNTRACKED_VISITORS) {
      // A visitor in the holdout was shown nothing: their clicks and conversions are remembered
      // against the rule (for lift) but can never count for a variant they did not see.
      const assignments = body.holdout
        ? body.assignments.map((assignment) => ({ ...assignment, experiment: null, variant: null }))
        : body.assignments;
      memories.push({ visitor: body.visitor, decisionId: body.id, at: body.at, assignments });
      remembering.add(message);
    }
  }
  const work: { owners: Set<Message<unknown>>; done: Promise<unknown> }[] = [];
  for (const [experiment, { deliveries, owners }] of statsUpdates(delivered))
    work.push({
      owners,
      done: addExperimentUpdates(env, experiment, [...deliveries.values()]),
    });
  if (memories.length > 0) work.push({ owners: remembering, done: rememberExposures(env, memories) });
  const results = await Promise.allSettled(work.map(({ done }) => done));
  const failed = new Set<Message<unknown>>();
  let firstError: unknown;
  results.forEach((result, index) => {
    if (result.status === "fulfilled") return;
    firstError ??= result.reason;
    for (const owner of work[index]?.owners ?? []) failed.add(owner);
  });
  if (failed.size > 0)
    console.error(JSON.stringify({ message: "learning-loop updates failed; retrying", messages: failed.size, error: String(firstError) }));
  for (const { message, body } of delivered) {
    if (failed.has(message)) continue;
    if (body.kind === "exposures") for (const exposure of exposureRecords(body)) recordExposure(analytics, exposure);
    if (body.kind === "click" || body.kind === "conversion") recordFeedback(analytics, body);
  }
  return failed;
}

async function deadLetter(env: Env, queue: SourceQueue, message: Message<unknown>, reason: string, detail: string): Promise<boolean> {
  const letter: DeadLetter = {
    queue,
    reason,
    detail: detail.slice(0, 2_000),
    attempts: message.attempts,
    failedAt: Date.now(),
    body: message.body,
  };
  try {
    await env.DEAD_LETTER_QUEUE.send({ v: 1, kind: "dead-letter", ...letter }, { contentType: "json" });
    return true;
  } catch (error) {
    console.error(JSON.stringify({ message: "dead-letter send failed; retrying the message", id: message.id, error: String(error) }));
    return false;
  }
}

/** Letters arriving on the dead-letter queue: ours (wrapped, with a reason) or the queue's own after max retries. */
function asLetter(body: unknown, attempts: number): DeadLetter {
  if (typeof body === "object" && body !== null && (body as { kind?: unknown }).kind === "dead-letter") {
    const { v: _version, kind: _kind, ...letter } = body as DeadLetter & { v: unknown; kind: unknown };
    return letter;
  }
  const kind = typeof body === "object" && body !== null ? (body as { kind?: unknown }).kind : undefined;
  return {
    queue: kind === "events" ? "tailor-events" : "tailor-feedback",
    reason: "out-of-retries",
    detail: "the queue gave up after max_retries",
    attempts,
    failedAt: Date.now(),
    body,
  };
}

async function keepDeadLetters(batch: MessageBatch<unknown>, env: Env, analytics: MergedPoints): Promise<void> {
  await placed(env.DEAD_LETTERS, env)
    .getByName("all")
    .add(batch.messages.map((message) => asLetter(message.body, message.attempts)));
  recordDelivery(analytics, "dead-lettered", batch.queue, batch.messages.length);
  batch.ackAll();
}

export async function consumeQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  // Merged and written once at the end: Analytics Engine takes at most 250 points per invocation.
  const analytics = new MergedPoints();
  try {
    await consume(batch, env, analytics);
  } finally {
    analytics.flush(env.ANALYTICS, batch.queue);
  }
}

async function consume(batch: MessageBatch<unknown>, env: Env, analytics: MergedPoints): Promise<void> {
  if (batch.queue === DEAD_LETTER_QUEUE_NAME || batch.queue.endsWith("-dead-letter")) {
    await keepDeadLetters(batch, env, analytics);
    return;
  }
  const queue = sourceQueue(batch.queue);
  if (queue === null) {
    console.error(JSON.stringify({ message: "no topic for queue; retrying", queue: batch.queue }));
    batch.retryAll({ delaySeconds: 60 });
    return;
  }
  const config = settings(env);
  const topic = queue === "tailor-events" ? config.KAFKA_TOPIC_EVENTS : config.KAFKA_TOPIC_FEEDBACK;
  const retry = (message: Message<unknown>) =>
    message.retry({ delaySeconds: retryDelaySeconds(message.attempts, config.DELIVERY_RETRY_BASE_SECONDS) });

  const valid: Valid[] = [];
  for (const message of batch.messages) {
    const parsed = QueueMessageSchema.safeParse(message.body);
    if (parsed.success) {
      valid.push({ message, body: parsed.data });
    } else {
      const detail = parsed.error.issues
        .slice(0, 3)
        .map((issue) => `${issue.path.join(".")}: ${issue.message}`)
        .join("; ");
      if (await deadLetter(env, queue, message, "malformed", detail)) message.ack();
      else retry(message);
      recordDelivery(analytics, "malformed", batch.queue, 1);
    }
  }
  // Click claims become clicks on the visitor's own exposures, or wait for them, or are dropped.
  const ready: Valid[] = [];
  let claimsDropped = 0;
  for (const entry of valid) {
    if (entry.body.kind !== "click-claim") {
      ready.push(entry);
      continue;
    }
    let click: ClickMessage | null;
    try {
      click = await attributeClaim(env, entry.body);
    } catch (error) {
      console.error(JSON.stringify({ message: "exposure memory unavailable; click claim retried", error: String(error) }));
      retry(entry.message);
      continue;
    }
    if (click !== null) ready.push({ message: entry.message, body: click });
    else if (entry.message.attempts < CLICK_CLAIM_ATTEMPTS) retry(entry.message);
    else {
      // Never shown, or shown too long ago: the event is on the events topic; nothing is credited.
      entry.message.ack();
      claimsDropped++;
    }
  }
  if (claimsDropped > 0) recordDelivery(analytics, "claims-dropped", batch.queue, claimsDropped);
  if (ready.length === 0) return;

  const deliveries = await deliver(env, topic, ready);
  const delivered: Valid[] = [];
  let retried = 0;
  let dead = 0;
  for (const [index, { message, body }] of ready.entries()) {
    const delivery = deliveries[index] ?? { outcome: "retry", detail: "no outcome" };
    if (delivery.outcome === "delivered") {
      delivered.push({ message, body });
    } else if (delivery.outcome === "retry") {
      retried++;
      retry(message);
    } else {
      dead++;
      if (await deadLetter(env, queue, message, delivery.reason, delivery.detail)) message.ack();
      else retry(message);
    }
  }
  if (retried > 0)
    console.error(
      JSON.stringify({
        message: "delivery failed; retrying",
        topic,
        retried,
        detail: deliveries.find((delivery) => delivery.outcome === "retry"),
      }),
    );
  // Acknowledged only once the learning loop has them too: a failed count or memory write is retried.
  const { firsts, copyOf } = firstCopies(delivered);
  const unfinished = firsts.length > 0 ? await afterDelivery(env, analytics, unbatched(firsts)) : new Set<Message<unknown>>();
  let unfinishedCount = 0;
  for (const { message } of delivered) {
    if (unfinished.has(copyOf.get(message) ?? message)) {
      retry(message);
      unfinishedCount++;
    } else message.ack();
  }
  recordDelivery(analytics, "delivered", batch.queue, delivered.length - unfinishedCount);
  if (retried + unfinishedCount > 0) recordDelivery(analytics, "retried", batch.queue, retried + unfinishedCount);
  if (dead > 0) recordDelivery(analytics, "dead-lettered", batch.queue, dead);
}
