/**
 * The editor's guardrails: the kill switch, pausing one rule or experiment, the rollout in progress
 * (and the last automatic rollback), and the health page. Buttons act through the admin API from
 * `client.ts`; nothing here runs inline.
 * @module
 */
import type { FC } from "hono/jsx";
import type { HealthFigures, RolloutInfo } from "../../../durable-objects/rules-registry.ts";
import type { RulesDocument } from "../../../shared/rules/document.ts";

/** The kill switch as the editor shows it. */
export interface KillSwitchView {
  enabled: boolean;
  reason: string | null;
  actor: string | null;
  at: string | null;
}

const OUTCOME_LABELS: Record<NonNullable<RolloutInfo["outcome"]>, string> = {
  promoted: "Promoted",
  "rolled-back": "Rolled back",
  cancelled: "Cancelled",
  inconclusive: "Not promoted (too few visitors to test)",
};

const RolloutLine: FC<{ rollout: RolloutInfo }> = ({ rollout }) => {
  const arms = rollout.arms
    .map(
      (arm) =>
        `v${arm.version}: ${arm.failedVisitors} of ${arm.visitors} visitors with fallbacks (${arm.failedPages} of ${arm.pages} pages)`,
    )
    .join("; ");
  if (rollout.outcome === null)
    return (
      <p>
        Version {rollout.version} is rolling out to {rollout.percent}% of visitors until {rollout.endsAt} (the rest stay on version{" "}
        {rollout.previous}). {arms === "" ? "No pages counted yet." : arms}
      </p>
    );
  return (
    <p class={rollout.outcome === "rolled-back" ? "error" : "muted"}>
      {OUTCOME_LABELS[rollout.outcome]} at {rollout.endedAt}: {rollout.detail}
    </p>
  );
};

/** The dashboard's guardrails panel: switch, rollout state, pause buttons. */
export const GuardrailsPanel: FC<{
  killSwitch: KillSwitchView;
  rollout: RolloutInfo | null;
  lastRollout: RolloutInfo | null;
  document: RulesDocument | null;
}> = ({ killSwitch, rollout, lastRollout, document }) => (
  <section class={killSwitch.enabled ? "card warning" : "card"} id="guardrails">
    <h2>Guardrails</h2>
    {killSwitch.enabled ? (
      <p role="alert">
        <strong>Kill switch ON</strong> since {killSwitch.at} by {killSwitch.actor}: {killSwitch.reason}. Every page passes through as the
        origin sent it.
      </p>
    ) : (
      <p class="muted">Kill switch off: pages are personalized.</p>
    )}
    <button type="button" class={killSwitch.enabled ? "kill-switch primary" : "kill-switch"} data-enabled={String(!killSwitch.enabled)}>
      {killSwitch.enabled ? "Turn personalization back on" : "Kill switch: stop all personalization"}
    </button>
    {rollout === null ? null : <RolloutLine rollout={rollout} />}
    {rollout === null && lastRollout !== null ? <RolloutLine rollout={lastRollout} /> : null}
    <details>
      <summary>Pause one rule or experiment</summary>
      <ul>
        {(document?.rules ?? []).map((rule) => (
          <li>
            rule <strong>{rule.id}</strong> {rule.paused === true ? "(paused) " : ""}
            <button type="button" class="pause" data-kind="rule" data-id={rule.id} data-paused={String(rule.paused !== true)}>
              {rule.paused === true ? "Resume" : "Pause"}
            </button>
          </li>
        ))}
        {Object.entries(document?.experiments ?? {}).map(([id, experiment]) => (
          <li>
            experiment <strong>{id}</strong> {experiment.paused === true ? "(paused) " : ""}
            <button type="button" class="pause" data-kind="experiment" data-id={id} data-paused={String(experiment.paused !== true)}>
              {experiment.paused === true ? "Resume" : "Pause"}
            </button>
          </li>
        ))}
      </ul>
    </details>
    <p>
      <a href="/admin/health">Health of the last minutes</a>
    </p>
  </section>
);

/** The health page: pages per minute and version, fallbacks by stage, dead letters, isolates. */
export const HealthView: FC<
  HealthFigures & {
    killSwitch: KillSwitchView;
    liveVersion: number | null;
    rollout: RolloutInfo | null;
    recentRollouts: RolloutInfo[];
    deadLetters: { total: number; byReason: { queue: string; reason: string; count: number }[]; oldestFailedAt: string | null };
  }
> = (health) => (
  <>
    <h1>Health</h1>
    <section class={health.killSwitch.enabled ? "card warning" : "card"}>
      <p>
        Live version: <strong>{health.liveVersion ?? "none"}</strong>. Kill switch:{" "}
        <strong>{health.killSwitch.enabled ? `ON (${health.killSwitch.reason ?? ""})` : "off"}</strong>.
      </p>
      {health.rollout === null ? <p class="muted">No rollout in progress.</p> : <RolloutLine rollout={health.rollout} />}
      {health.recentRollouts
        .filter((rollout) => rollout.outcome !== null)
        .slice(0, 3)
        .map((rollout) => (
          <RolloutLine rollout={rollout} />
        ))}
    </section>
    <section class="card">
      <h2>Pages, last 15 minutes</h2>
      <table>
        <thead>
          <tr>
            <th>Minute</th>
            <th>Version</th>
            <th>Pages</th>
            <th>With fallbacks</th>
            <th>Failed actions</th>
            <th>Origin errors</th>
            <th>Decision ms (avg)</th>
          </tr>
        </thead>
        <tbody>
          {health.minutes.map((row) => (
            <tr>
              <td>{row.minute.slice(11, 16)}</td>
              <td>{row.version}</td>
              <td>{row.pages}</td>
              <td>{row.failedPages}</td>
              <td>{row.failedActions}</td>
              <td>{row.originErrors}</td>
              <td>{row.decideMsAverage}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {health.minutes.length === 0 ? <p class="muted">No pages reported yet.</p> : null}
    </section>
    <section class="card">
      <h2>Fallbacks by stage</h2>
      {health.fallbacks.length === 0 ? <p class="muted">None.</p> : null}
      <ul>
        {health.fallbacks.map((row) => (
          <li>
            {row.stage} (version {row.version}): {row.pages} pages
          </li>
        ))}
      </ul>
    </section>
    <section class="card">
      <h2>Delivery</h2>
      <p>
        Dead letters waiting: <strong>{health.deadLetters.total}</strong>
        {health.deadLetters.oldestFailedAt === null ? null : `, the oldest since ${health.deadLetters.oldestFailedAt}`}
      </p>
      <ul>
        {health.deadLetters.byReason.map((row) => (
          <li>
            {row.queue}: {row.reason} ({row.count})
          </li>
        ))}
      </ul>
    </section>
    <section class="card">
      <h2>Isolates (as far as they reported)</h2>
      <table>
        <thead>
          <tr>
            <th>Isolate</th>
            <th>Serving</th>
            <th>Rules refreshed</th>
            <th>Last report</th>
          </tr>
        </thead>
        <tbody>
          {health.isolates.map((row) => (
            <tr>
              <td>
                <code>{row.id}</code>
              </td>
              <td>{row.serving ?? "—"}</td>
              <td>{row.refreshedAt ?? "—"}</td>
              <td>{row.reportedAt}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  </>
);
