/**
 * Data points for Workers Analytics Engine, one helper per kind so the column layout lives in one
 * place (documented in docs/storage.md): `blob1` is always the kind, `index1` what a dashboard
 * groups by most, `double1` a count.
 * @see https://developers.cloudflare.com/analytics/analytics-engine/
 * @module
 */

import { redactCapped } from "../../shared/redact.ts";

type Dataset = Pick<AnalyticsEngineDataset, "writeDataPoint">;

/** Paths can carry personal data (`/account/bob@example.com`): redacted like everything that leaves. */
function pathBlob(path: string): string {
  return redactCapped(path, 256);
}

/** A page or API decision: blobs kind, path, holdout flag; doubles count, slots changed, decision ms. */
export function recordDecision(dataset: Dataset, path: string, slots: number, holdout: boolean, milliseconds: number): void {
  dataset.writeDataPoint({
    indexes: ["decision"],
    blobs: ["decision", pathBlob(path), holdout ? "holdout" : "treated"],
    doubles: [1, slots, milliseconds],
  });
}

/** A stage that fell back to defaults: blobs kind, reason, path. */
export function recordFallback(dataset: Dataset, reason: string, path: string): void {
  dataset.writeDataPoint({ indexes: ["fallback"], blobs: ["fallback", reason.slice(0, 128), pathBlob(path)], doubles: [1] });
}

/**
 * An exposure delivered upstream: blobs kind, rule, slot, experiment, variant, holdout flag (rule..variant
 * line up with clicks and conversions). No path: the dashboards and alerts count exposures per rule
 * and variant, and without it the consumer's `MergedPoints` folds a batch's exposures into one point
 * per rule, slot, variant and holdout flag instead of one per page (each exposure's path is in its
 * Kafka record).
 */
export function recordExposure(
  dataset: Dataset,
  exposure: { ruleId: string; slot: string; experiment: string | null; variant: string | null; holdout: boolean },
): void {
  dataset.writeDataPoint({
    indexes: [exposure.ruleId],
    blobs: [
      "exposure",
      exposure.ruleId,
      exposure.slot,
      exposure.experiment ?? "",
      exposure.variant ?? "",
      exposure.holdout ? "holdout" : "treated",
    ],
    doubles: [1],
  });
}

/** A click or conversion attributed to a personalization: blobs kind, rule, slot, experiment, variant, event; doubles count, value. */
export function recordFeedback(
  dataset: Dataset,
  feedback: {
    kind: "click" | "conversion";
    ruleId: string;
    slot: string;
    experiment: string | null;
    variant: string | null;
    event?: string;
    value?: number | null;
  },
): void {
  dataset.writeDataPoint({
    indexes: [feedback.ruleId],
    blobs: [feedback.kind, feedback.ruleId, feedback.slot, feedback.experiment ?? "", feedback.variant ?? "", feedback.event ?? ""],
    doubles: [1, feedback.value ?? 0],
  });
}

/**
 * How a batch of exposures left the isolate: blobs kind `exposure-send`, outcome (`sent`, `parked`,
 * `lost`); doubles 1, decisions, send attempts, milliseconds from its first decision until the queue
 * or the outbox had it (the window in which the isolate's death would have lost it).
 */
export function recordExposureSend(dataset: Dataset, outcome: string, decisions: number, attempts: number, exposedMs: number): void {
  dataset.writeDataPoint({ indexes: ["exposure-send"], blobs: ["exposure-send", outcome], doubles: [1, decisions, attempts, exposedMs] });
}

/** Queue delivery outcomes: blobs kind `delivery`, outcome (`delivered`, `retried`, `dead-lettered`, `malformed`), queue; doubles messages. */
export function recordDelivery(dataset: Dataset, outcome: string, queue: string, messages: number): void {
  dataset.writeDataPoint({ indexes: ["delivery"], blobs: ["delivery", outcome, queue], doubles: [messages] });
}

/**
 * A live rules document that failed validation and was not served: blobs kind `rules`, `refused`,
 * first problem (`/pointer: message`); doubles count, refused version, version still serving (0: none).
 */
export function recordRulesRefused(dataset: Dataset, refused: number, serving: number | null, firstProblem: string): void {
  dataset.writeDataPoint({
    indexes: ["rules"],
    blobs: ["rules", "refused", firstProblem.slice(0, 256)],
    doubles: [1, refused, serving ?? 0],
  });
}

/**
 * An automatic rollback of a rule or experiment (a guardrail tripped): blobs kind `rollback`, rule,
 * reason (e.g. `guardrail:conversion-rate`), experiment (empty: none); doubles count, rules version
 * rolled back from, rules version now serving (0: unknown).
 */
export function recordRollback(
  dataset: Dataset,
  rollback: { ruleId: string; reason: string; experiment?: string | null; fromVersion?: number | null; toVersion?: number | null },
): void {
  dataset.writeDataPoint({
    indexes: ["rollback"],
    blobs: ["rollback", rollback.ruleId.slice(0, 200), rollback.reason.slice(0, 128), (rollback.experiment ?? "").slice(0, 200)],
    doubles: [1, rollback.fromVersion ?? 0, rollback.toVersion ?? 0],
  });
}

/**
 * An experiment whose exposures per variant do not match the planned split (sample ratio mismatch):
 * blobs kind `srm`, experiment; doubles count, p-value, exposures counted.
 */
export function recordSampleRatioMismatch(dataset: Dataset, experiment: string, pValue: number, exposures: number): void {
  dataset.writeDataPoint({ indexes: ["srm"], blobs: ["srm", experiment.slice(0, 200)], doubles: [1, pValue, exposures] });
}
