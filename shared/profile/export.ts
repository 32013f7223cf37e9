/**
 * The shape of a visitor's data export (`GET /v1/profile`): everything Tailor keeps about them.
 * @module
 */
import type { RecordedEvent } from "../events/recorded.ts";
import type { VisitorState } from "./state.ts";

/** One per-minute counter row: e.g. (`views.category`, `electronics`, minute 29408850) → 2. */
export type CounterRow = { metric: string; key: string; minute: number; count: number };

/** One lifetime total. */
export type TotalRow = { metric: string; key: string; count: number };

export interface ProfileExport {
  profile: VisitorState;
  events: (Omit<RecordedEvent, "receivedAt" | "clientTime"> & { receivedAt: string; clientTime: string | null })[];
  counts: TotalRow[];
  minuteCounts: CounterRow[];
  /** Personalizations remembered for attributing clicks and conversions (kept for the attribution window). */
  exposures: { decisionId: string; ruleId: string; slot: string; experiment: string | null; variant: string | null; at: string }[];
  retention: { idleDays: number; deleteAfter: string | null };
  /** Bandit variants the visitor keeps, experiment id → variant (`shared/rules/sticky.ts`). */
  assignments: Record<string, string>;
}
