/**
 * Which personalization a click or conversion belongs to. Pure: the visitor's Durable Object
 * passes the event and the exposures it remembers.
 * @module
 */
import type { RecordedEvent } from "../events/recorded.ts";
import type { ClickMessage, ConversionMessage } from "./messages.ts";

export interface RememberedExposure {
  decisionId: string;
  ruleId: string;
  slot: string;
  experiment: string | null;
  variant: string | null;
  at: number;
}

export const CONVERSION_EVENTS = new Set(["Order Completed", "Product Added"]);

function text(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value.slice(0, 64) : null;
}

function number(value: unknown): number | null {
  const parsed = typeof value === "string" ? Number(value) : value;
  return typeof parsed === "number" && Number.isFinite(parsed) && parsed >= 0 ? parsed : null;
}

/** The conversion's value: revenue or total for orders, price × quantity for basket adds. */
function conversionValue(event: RecordedEvent): number | null {
  const { properties } = event;
  const total = number(properties.revenue) ?? number(properties.total) ?? number(properties.value);
  if (total !== null) return total;
  const price = number(properties.price);
  return price === null ? null : price * (number(properties.quantity) ?? 1);
}

/**
 * The feedback messages an accepted event gives rise to: a click for `Promotion Clicked` (the
 * tracker sends the rule as `promotion_id`, the slot as `position`, the variant as `creative`),
 * and for a conversion event one conversion per personalization (latest per rule and slot) the
 * visitor saw within `windowMs`.
 */
export function feedbackFor(
  event: RecordedEvent,
  visitor: string,
  exposures: readonly RememberedExposure[],
  windowMs: number,
): (ClickMessage | ConversionMessage)[] {
  const at = new Date(event.receivedAt).toISOString();
  if (event.type === "track" && event.event === "Promotion Clicked") {
    const ruleId = text(event.properties.promotion_id);
    const slot = text(event.properties.position);
    if (ruleId === null || slot === null) return [];
    const seen = exposures.filter((exposure) => exposure.ruleId === ruleId && exposure.slot === slot).sort((a, b) => b.at - a.at)[0];
    return [
      {
        v: 1,
        kind: "click",
        id: event.messageId,
        visitor,
        ruleId,
        slot,
        experiment: text(event.properties.experiment) ?? seen?.experiment ?? null,
        variant: text(event.properties.creative) ?? seen?.variant ?? null,
        at,
      },
    ];
  }
  if (event.type !== "track" || event.event === null || !CONVERSION_EVENTS.has(event.event)) return [];
  const latest = new Map<string, RememberedExposure>();
  for (const exposure of exposures) {
    if (exposure.at > event.receivedAt || exposure.at < event.receivedAt - windowMs) continue;
    const key = `${exposure.ruleId}\u0000${exposure.slot}`;
    const known = latest.get(key);
    if (known === undefined || known.at < exposure.at) latest.set(key, exposure);
  }
  return [...latest.values()].map((exposure) => ({
    v: 1,
    kind: "conversion",
    id: `${event.messageId}:${exposure.ruleId}:${exposure.slot}`,
    visitor,
    event: event.event ?? "",
    value: conversionValue(event),
    ruleId: exposure.ruleId,
    slot: exposure.slot,
    experiment: exposure.experiment,
    variant: exposure.variant,
    decisionId: exposure.decisionId,
    exposedAt: new Date(exposure.at).toISOString(),
    at,
  }));
}
