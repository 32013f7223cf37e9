/**
 * Which personalization a click or conversion belongs to. Pure: the visitor's Durable Object
 * passes the event and the exposures it remembers.
 * @module
 */
import type { RecordedEvent } from "../events/recorded.ts";
import { redactCapped } from "../redact.ts";
import type { Assignment } from "../rules/assignment.ts";
import type { ClickClaimMessage, ClickMessage, ConversionMessage } from "./messages.ts";

/** An exposure the visitor's Durable Object remembers: the assignment, its decision and when (ms). */
export interface RememberedExposure extends Assignment {
  decisionId: string;
  at: number;
}

export const CONVERSION_EVENTS = new Set(["Order Completed", "Product Added"]);

/**
 * The most one conversion is worth (in the site's currency). Revenue is the browser's claim: a
 * bound keeps one event from outweighing every real order in an experiment's revenue.
 */
export const MAX_CONVERSION_VALUE = 100_000;

function text(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value.slice(0, 64) : null;
}

function number(value: unknown): number | null {
  const parsed = typeof value === "string" ? Number(value) : value;
  return typeof parsed === "number" && Number.isFinite(parsed) && parsed >= 0 ? parsed : null;
}

/**
 * The conversion's value: revenue or total for orders, price × quantity for basket adds; never
 * negative, never more than `MAX_CONVERSION_VALUE`.
 */
function conversionValue(event: RecordedEvent): number | null {
  const { properties } = event;
  const total = number(properties.revenue) ?? number(properties.total) ?? number(properties.value);
  const price = number(properties.price);
  const value = total ?? (price === null ? null : price * (number(properties.quantity) ?? 1));
  return value === null ? null : Math.min(value, MAX_CONVERSION_VALUE);
}

/** The id part naming a conversion event: `Order Completed` → `order-completed`. */
function conversionName(event: string): string {
  return event.toLowerCase().replaceAll(" ", "-");
}

/** Whether Tailor logged `exposure` before `at` and no longer ago than `windowMs`. */
function inWindow(exposure: RememberedExposure, at: number, windowMs: number): boolean {
  return exposure.at <= at && exposure.at >= at - windowMs;
}

/** What an accepted event gives rise to on the feedback queue. */
export type FeedbackMessage = ClickMessage | ClickClaimMessage | ConversionMessage;

/**
 * The click a visitor's `Promotion Clicked` on `ruleId` in `slot` at `at` stands for, or null when
 * Tailor did not show the visitor that rule in that slot within `windowMs` before. The click takes
 * the exposure's experiment and variant, and its id names the exposure (`<decisionId>:<slot>:click`),
 * so however many clicks arrive for one exposure, experiment counts take one.
 */
export function clickFor(
  claim: { ruleId: string; slot: string; visitor: string; at: number },
  exposures: readonly RememberedExposure[],
  windowMs: number,
): ClickMessage | null {
  const seen = exposures
    .filter((exposure) => exposure.ruleId === claim.ruleId && exposure.slot === claim.slot && inWindow(exposure, claim.at, windowMs))
    .sort((a, b) => b.at - a.at)[0];
  if (seen === undefined) return null;
  return {
    v: 1,
    kind: "click",
    id: `${seen.decisionId}:${seen.slot}:click`,
    visitor: claim.visitor,
    ruleId: seen.ruleId,
    slot: seen.slot,
    experiment: seen.experiment,
    variant: seen.variant,
    decisionId: seen.decisionId,
    exposedAt: new Date(seen.at).toISOString(),
    at: new Date(claim.at).toISOString(),
  };
}

/**
 * The feedback messages an accepted event gives rise to.
 *
 * Only what Tailor itself recorded for this visitor counts: the exposures passed in were logged at
 * decision time and delivered by the consumer, while everything in the event is a claim of the
 * browser. A `Promotion Clicked` (the tracker sends the rule as `promotion_id` and the slot as
 * `position`) is a click on the visitor's own exposure of that rule and slot (see `clickFor`),
 * never on the event's `experiment`, `variant` or `creative`; when that exposure is not remembered
 * yet, a claim the consumer attributes later or drops. A conversion event gives one conversion per
 * personalization seen within `windowMs`: the latest exposure per rule and slot outside experiments,
 * the latest exposure per experiment inside one. Its id names that exposure and the event
 * (`<decisionId>:<slot>:order-completed`), whatever the event's `messageId`, so however many orders
 * a browser reports after one exposure, the experiment counts one conversion for it; its value is
 * capped at `MAX_CONVERSION_VALUE`.
 */
export function feedbackFor(
  event: RecordedEvent,
  visitor: string,
  exposures: readonly RememberedExposure[],
  windowMs: number,
  aliases: readonly string[] = [],
): FeedbackMessage[] {
  const at = new Date(event.receivedAt).toISOString();
  if (event.type === "track" && event.event === "Promotion Clicked") {
    const ruleId = text(event.properties.promotion_id);
    const slot = text(event.properties.position);
    if (ruleId === null || slot === null) return [];
    const click = clickFor({ ruleId, slot, visitor, at: event.receivedAt }, exposures, windowMs);
    if (click !== null) return [click];
    // The names are the browser's: redacted like any event text before they reach the queue.
    return [
      {
        v: 1,
        kind: "click-claim",
        id: event.messageId,
        visitor,
        aliases: [...aliases],
        ruleId: redactCapped(ruleId, 64),
        slot: redactCapped(slot, 64),
        at,
      },
    ];
  }
  if (event.type !== "track" || event.event === null || !CONVERSION_EVENTS.has(event.event)) return [];
  const name = event.event;
  // Outside experiments: the latest exposure per rule and slot. In an experiment: only its latest
  // exposure, whichever rule or slot it was, so one event is credited to an experiment once.
  const latest = new Map<string, RememberedExposure>();
  for (const exposure of exposures) {
    if (!inWindow(exposure, event.receivedAt, windowMs)) continue;
    const key =
      exposure.experiment === null ? `rule\u0000${exposure.ruleId}\u0000${exposure.slot}` : `experiment\u0000${exposure.experiment}`;
    const known = latest.get(key);
    if (known === undefined || known.at < exposure.at) latest.set(key, exposure);
  }
  const value = conversionValue(event);
  return [...latest.values()].map((exposure) => ({
    v: 1,
    kind: "conversion",
    id: `${exposure.decisionId}:${exposure.slot}:${conversionName(name)}`,
    visitor,
    event: name,
    value,
    ruleId: exposure.ruleId,
    slot: exposure.slot,
    experiment: exposure.experiment,
    variant: exposure.variant,
    decisionId: exposure.decisionId,
    exposedAt: new Date(exposure.at).toISOString(),
    at,
  }));
}
