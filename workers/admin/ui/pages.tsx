/**
 * The web editor's pages, rendered on the server with Hono's JSX. The little interactivity there is
 * (validation as you type, preview, publish, rollback) lives in `client.ts`, served as
 * `/admin/assets/admin.js`; no inline script runs, so the CSP can forbid it.
 * @module
 */
import type { Child, FC } from "hono/jsx";
import type { HealthFigures, RolloutInfo, VersionInfo } from "../../../durable-objects/rules-registry.ts";
import type { Rule, RulesDocument, SlotAction } from "../../../shared/rules/document.ts";
import type { ExperimentReportView } from "../experiment-report.ts";
import { GuardrailsPanel, HealthView, type KillSwitchView } from "./guardrails.tsx";
import { ACTION_CHOICES, ATTRIBUTE_CHOICES, OPERATOR_CHOICES, SAMPLE_VISITORS } from "./vocabulary.ts";

const Layout: FC<{ title: string; csrf?: string; children?: Child }> = ({ title, csrf, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      {csrf === undefined ? null : <meta name="csrf-token" content={csrf} />}
      <title>{title} · Tailor</title>
      <link rel="stylesheet" href="/admin/assets/admin.css" />
      <script src="/admin/assets/admin.js" defer />
    </head>
    <body>
      <header class="bar">
        <a class="brand" href="/admin">
          Tailor
        </a>
        <nav>
          <a href="/admin">Rules</a>
          <a href="/admin/versions">Versions</a>
          <a href="/admin/health">Health</a>
          <a href="/admin/api/docs">API</a>
        </nav>
        {csrf === undefined ? null : (
          <form method="post" action="/admin/logout" class="logout">
            <input type="hidden" name="csrf" value={csrf} />
            <button type="submit">Sign out</button>
          </form>
        )}
      </header>
      <main>{children}</main>
    </body>
  </html>
);

export const LoginPage: FC<{ error?: string }> = ({ error }) => (
  <Layout title="Sign in">
    <section class="card narrow">
      <h1>Sign in to Tailor</h1>
      {error === undefined ? null : <p class="error">{error}</p>}
      <form method="post" action="/admin/login">
        <label>
          Your name (shown in the change history)
          <input name="name" required maxlength={100} autocomplete="name" />
        </label>
        <label>
          Admin token
          <input name="token" type="password" required autocomplete="current-password" />
        </label>
        <button type="submit" class="primary">
          Sign in
        </button>
      </form>
    </section>
  </Layout>
);

function describeAction(action: SlotAction | undefined): string {
  if (action === undefined) return "default content";
  const choice = ACTION_CHOICES.find((candidate) => candidate.type === action.type);
  return choice?.label ?? action.type;
}

function slotsOf(rule: Rule): string[] {
  return [
    ...new Set([
      ...Object.keys(rule.actions),
      ...Object.values(rule.experiment?.variants ?? {}).flatMap((actions) => Object.keys(actions)),
    ]),
  ];
}

/** Wilson score interval for a rate, 95%. */
function wilson(successes: number, trials: number): [number, number] {
  if (trials === 0) return [0, 0];
  const z = 1.96;
  const p = successes / trials;
  const denominator = 1 + (z * z) / trials;
  const centre = p + (z * z) / (2 * trials);
  const margin = z * Math.sqrt((p * (1 - p)) / trials + (z * z) / (4 * trials * trials));
  return [Math.max(0, (centre - margin) / denominator), Math.min(1, (centre + margin) / denominator)];
}

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;

const ExperimentResults: FC<{ id: string; report: ExperimentReportView | null }> = ({ id, report }) => {
  if (report === null) return <p class="muted">No results yet for {id}.</p>;
  const rows = Object.entries(report.variants).map(([variant, stats]) => ({
    variant,
    ...stats,
    rate: stats.trials === 0 ? 0 : stats.successes / stats.trials,
    interval: wilson(stats.successes, stats.trials),
  }));
  const top = Math.max(0.01, ...rows.map((row) => row.interval[1]));
  return (
    <div class="experiment" data-experiment={id}>
      {report.shards.complete ? null : (
        <p class="warning" data-missing-shards={report.shards.missing.join(" ")}>
          Incomplete: {report.shards.missing.length} of {report.shards.count} count shards did not answer (shards{" "}
          {report.shards.missing.join(", ")}). Every number below lacks their share; reload to try again.
        </p>
      )}
      {report.srm.flagged ? (
        <p class="warning">
          Sample ratio mismatch: visitors are not split as planned (p = {report.srm.pValue.toExponential(1)}). Don't trust these results
          until the cause is found.
        </p>
      ) : null}
      <p class="muted">
        Split check: {report.srm.check} ({report.srm.exposures} exposures). Clicks and conversions credited to one variant each:{" "}
        {report.attribution.description}.{report.reward === null ? "" : ` The bandit learns from ${report.reward}.`}
      </p>
      <table>
        <thead>
          <tr>
            <th>Variant</th>
            <th>Exposures</th>
            <th>Clicks</th>
            <th>Conversions</th>
            <th>Revenue</th>
            <th>Click rate (95% interval)</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr>
              <td>{row.variant}</td>
              <td>{row.trials}</td>
              <td>{row.successes}</td>
              <td>{row.conversions}</td>
              <td>{row.revenue.toFixed(2)}</td>
              <td>
                {percent(row.rate)} ({percent(row.interval[0])}–{percent(row.interval[1])})
              </td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th>All variants</th>
            <td>{report.totals.trials}</td>
            <td>{report.totals.successes}</td>
            <td>{report.totals.conversions}</td>
            <td>{report.totals.revenue.toFixed(2)}</td>
            <td />
          </tr>
        </tfoot>
      </table>
      <svg class="chart" viewBox={`0 0 300 ${rows.length * 28 + 8}`} role="img" aria-label={`Click rate per variant of ${id}`}>
        {rows.map((row, index) => (
          <g transform={`translate(0 ${index * 28 + 4})`}>
            <text x="0" y="15" font-size="12">
              {row.variant}
            </text>
            <rect x="70" y="4" height="14" width={(row.rate / top) * 220} fill="#0b6bcb" />
            <line
              x1={70 + (row.interval[0] / top) * 220}
              x2={70 + (row.interval[1] / top) * 220}
              y1="11"
              y2="11"
              stroke="#111"
              stroke-width="2"
            />
          </g>
        ))}
      </svg>
    </div>
  );
};

/** The first concrete page a rule running the experiment targets (a preview link works on one page). */
function previewPathFor(document: RulesDocument | null, experiment: string): string {
  const rule = document?.rules.find((candidate) => candidate.experiment?.id === experiment);
  return rule?.pages.find((page) => !page.includes("*")) ?? "/";
}

export const DashboardPage: FC<{
  csrf: string;
  actor: string;
  live: { version: number; document: RulesDocument } | null;
  refused: { version: number; problems: { pointer: string; message: string }[] } | null;
  /** What is wrong with the live rules in KV, in words (a pointer that does not parse, a refused version). */
  warnings: string[];
  reports: Record<string, ExperimentReportView | null>;
  guard: { killSwitch: KillSwitchView; rollout: RolloutInfo | null; lastRollout: RolloutInfo | null };
}> = ({ csrf, actor, live, refused, warnings, reports, guard }) => (
  <Layout title="Rules" csrf={csrf}>
    <h1>Personalization rules</h1>
    <p class="muted">
      Signed in as {actor}. {live === null ? "Nothing is published yet." : `Version ${live.version} is live.`}
    </p>
    {warnings.length === 0 || refused !== null ? null : (
      <section class="warning" role="alert">
        <strong>The live rules in KV need attention: publish or roll back to repair them.</strong>
        <ul>
          {warnings.map((warning) => (
            <li>{warning}</li>
          ))}
        </ul>
      </section>
    )}
    {refused === null ? null : (
      <section class="warning" role="alert">
        <strong>
          Version {refused.version} was written to KV but is invalid, so version {live?.version ?? "none"} keeps serving.
        </strong>
        <ul>
          {refused.problems.slice(0, 5).map((problem) => (
            <li>
              <code>{problem.pointer}</code>: {problem.message}
            </li>
          ))}
        </ul>
      </section>
    )}
    <GuardrailsPanel {...guard} document={live?.document ?? null} />
    <p>
      <a class="button primary" href="/admin/rules/new">
        New rule
      </a>{" "}
      <a class="button" href="/admin/json">
        Edit everything as JSON
      </a>
    </p>
    <section class="card">
      <h2>Rules</h2>
      <table class="rules">
        <thead>
          <tr>
            <th>Rule</th>
            <th>Priority</th>
            <th>Pages</th>
            <th>Changes</th>
          </tr>
        </thead>
        <tbody>
          {(live?.document.rules ?? []).map((rule) => (
            <tr>
              <td>
                <a href={`/admin/rules/${rule.id}`}>{rule.id}</a>
                <div class="muted">{rule.description ?? ""}</div>
              </td>
              <td>{rule.priority}</td>
              <td>{rule.pages.join(", ")}</td>
              <td>
                {rule.experiment === undefined
                  ? slotsOf(rule).map((slot) => (
                      <div>
                        {slot}: {describeAction(rule.actions[slot])}
                      </div>
                    ))
                  : `experiment ${rule.experiment.id} (${Object.keys(rule.experiment.variants).join(", ")})`}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
    <section class="card">
      <h2>Audiences</h2>
      {Object.keys(live?.document.audiences ?? {}).length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <ul>
          {Object.entries(live?.document.audiences ?? {}).map(([name, condition]) => (
            <li>
              <strong>{name}</strong>: <code>{JSON.stringify(condition)}</code>
            </li>
          ))}
        </ul>
      )}
    </section>
    <section class="card">
      <h2>Experiments</h2>
      {Object.keys(live?.document.experiments ?? {}).length === 0 ? <p class="muted">None.</p> : null}
      <p id="status" class="status" aria-live="polite" />
      <input id="preview-link" class="preview-link-output" readonly aria-label="Last preview link" />
      {Object.entries(live?.document.experiments ?? {}).map(([id, experiment]) => (
        <div>
          <h3>
            {id}{" "}
            <span class="muted">
              (
              {experiment.allocation === "bandit"
                ? "bandit"
                : `split ${(experiment.weights ?? experiment.variants.map(() => 1 / experiment.variants.length)).map(percent).join(" / ")}`}
              )
            </span>
          </h3>
          <ExperimentResults id={id} report={reports[id] ?? null} />
          <p class="preview-links">
            QA preview (24 hours, on {previewPathFor(live?.document ?? null, id)}):{" "}
            {experiment.variants.map((variant) => (
              <button
                type="button"
                class="preview-link"
                data-experiment={id}
                data-variant={variant}
                data-path={previewPathFor(live?.document ?? null, id)}
              >
                Copy preview link: {variant}
              </button>
            ))}
          </p>
        </div>
      ))}
    </section>
  </Layout>
);

/** A row of the versions page: the version, what it is compared with, and whether it was refused. */
export interface VersionRow extends VersionInfo {
  /** The version that was serving just before this one was published; null for the first. */
  base: number | null;
  /** The loader would not serve it (not JSON or not a valid document): it never served. */
  refused: boolean;
  /** What changed from `base`, as "added /pointer" lines. */
  changes: string[];
}

export const VersionsPage: FC<{ csrf: string; versions: VersionRow[] }> = ({ csrf, versions }) => (
  <Layout title="Versions" csrf={csrf}>
    <h1>Versions</h1>
    <p id="status" class="status" role="status" />
    <table class="versions">
      <thead>
        <tr>
          <th>Version</th>
          <th>Published</th>
          <th>By</th>
          <th>Message</th>
          <th>Changes from the version live before it</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {versions.map((version) => (
          <tr class={version.live ? "live" : ""}>
            <td>
              {version.version} {version.live ? <span class="badge">live</span> : null}
              {version.refused ? <span class="badge refused">refused: never served</span> : null}
            </td>
            <td>{version.publishedAt ?? "—"}</td>
            <td>{version.author ?? "written directly to KV"}</td>
            <td>{version.message ?? ""}</td>
            <td class="changes">
              {version.base === null ? null : <div class="base">against version {version.base}</div>}
              {version.base !== null && version.changes.length === 0 ? <div>no changes</div> : null}
              {version.changes.slice(0, 6).map((change) => (
                <div>
                  <code>{change}</code>
                </div>
              ))}
            </td>
            <td>
              {version.live || version.refused ? null : (
                <button type="button" class="rollback" data-version={String(version.version)}>
                  Make live again
                </button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  </Layout>
);

/** One condition row: attribute, operator, value. */
function conditionRows(condition: Record<string, unknown>): { path: string; operator: string; value: string }[] | null {
  const rows: { path: string; operator: string; value: string }[] = [];
  for (const [path, test] of Object.entries(condition)) {
    if (path.startsWith("$")) return null;
    if (test === null || typeof test !== "object" || Array.isArray(test)) {
      rows.push({ path, operator: "$eq", value: String(test) });
      continue;
    }
    for (const [operator, value] of Object.entries(test)) {
      if (!OPERATOR_CHOICES.some((choice) => choice.operator === operator)) return null;
      rows.push({ path, operator, value: Array.isArray(value) ? value.join(", ") : String(value) });
    }
  }
  return rows;
}

export const RuleEditorPage: FC<{
  csrf: string;
  document: RulesDocument | null;
  liveVersion: number | null;
  rule: Rule | null;
  isNew: boolean;
}> = ({ csrf, document, liveVersion, rule, isNew }) => {
  const index =
    rule === null || document === null ? (document?.rules.length ?? 0) : document.rules.findIndex((candidate) => candidate.id === rule.id);
  const base = `/rules/${index}`;
  const rows = conditionRows(rule?.condition ?? {});
  const slots = Object.keys(document?.slots ?? {});
  return (
    <Layout title={isNew ? "New rule" : `Rule ${rule?.id ?? ""}`} csrf={csrf}>
      {/* Data, not code: JSON with "<" escaped cannot end the element, and CSP allows no inline script anyway. */}
      <script
        type="application/json"
        id="live-document"
        dangerouslySetInnerHTML={{ __html: JSON.stringify({ version: liveVersion, document }).replace(/</g, "\\u003c") }}
      />
      <div class="editor" data-rule-index={String(index)} data-original-id={rule?.id ?? ""}>
        <form id="rule-form" class="card" autocomplete="off">
          <h1>{isNew ? "New rule" : `Edit rule “${rule?.id}”`}</h1>
          <div id="general-problems" class="problems" />
          <label data-pointer={`${base}/id`}>
            Name (lower case, no spaces)
            <input name="id" value={rule?.id ?? ""} required pattern="[a-z][a-z0-9_-]*" />
          </label>
          <label data-pointer={`${base}/description`}>
            What it is for
            <input name="description" value={rule?.description ?? ""} />
          </label>
          <label data-pointer={`${base}/priority`}>
            Priority (higher wins when two rules want the same place)
            <input name="priority" type="number" value={String(rule?.priority ?? 0)} />
          </label>
          <label data-pointer={`${base}/pages`}>
            Pages (comma-separated; end with * for all pages under a path)
            <input name="pages" value={(rule?.pages ?? ["/"]).join(", ")} />
          </label>
          <fieldset data-pointer={`${base}/schedule`}>
            <legend>When (optional)</legend>
            <label>
              From <input name="start" type="datetime-local" value={rule?.schedule?.start?.slice(0, 16) ?? ""} />
            </label>
            <label>
              Until <input name="end" type="datetime-local" value={rule?.schedule?.end?.slice(0, 16) ?? ""} />
            </label>
          </fieldset>
          <fieldset data-pointer={`${base}/condition`}>
            <legend>Who sees it</legend>
            <div id="conditions" data-mode={rows === null ? "json" : "rows"}>
              {(rows ?? []).map((row) => (
                <div class="condition-row">
                  <select name="attribute">
                    {ATTRIBUTE_CHOICES.map((choice) => (
                      <option value={choice.path} selected={choice.path === row.path}>
                        {choice.label}
                      </option>
                    ))}
                    {ATTRIBUTE_CHOICES.some((choice) => choice.path === row.path) ? null : (
                      <option value={row.path} selected>
                        {row.path}
                      </option>
                    )}
                  </select>
                  <select name="operator">
                    {OPERATOR_CHOICES.map((choice) => (
                      <option value={choice.operator} selected={choice.operator === row.operator}>
                        {choice.label}
                      </option>
                    ))}
                  </select>
                  <input name="value" value={row.value} />
                  <button type="button" class="remove-row" aria-label="Remove this condition">
                    ×
                  </button>
                </div>
              ))}
            </div>
            <p class="muted" id="everyone-note">
              With no conditions, everyone on these pages sees it.
            </p>
            <button type="button" id="add-condition">
              Add a condition
            </button>
            <details id="condition-json-box" open={rows === null}>
              <summary>Advanced: condition as JSON</summary>
              <textarea name="condition-json" rows={4}>
                {JSON.stringify(rule?.condition ?? {}, null, 2)}
              </textarea>
            </details>
          </fieldset>
          <fieldset data-pointer={`${base}/actions`}>
            <legend>What changes</legend>
            {rule?.experiment !== undefined ? (
              <p class="muted">This rule runs experiment “{rule.experiment.id}”; edit its variants as JSON below.</p>
            ) : (
              slots.map((slot) => {
                const action = rule?.actions[slot];
                const content = action === undefined ? "" : "html" in action ? action.html : "text" in action ? action.text : "";
                return (
                  <div class="slot" data-slot={slot} data-pointer={`${base}/actions/${slot}`}>
                    <h3>{document?.slots[slot]?.description ?? slot}</h3>
                    <select name={`action-${slot}`}>
                      <option value="">Leave as it is</option>
                      {action !== undefined && !ACTION_CHOICES.some((choice) => choice.type === action.type) ? (
                        <option value="__keep__" selected>
                          Keep the current change ({action.type})
                        </option>
                      ) : null}
                      {ACTION_CHOICES.map((choice) => (
                        <option value={choice.type} selected={action?.type === choice.type}>
                          {choice.label}
                        </option>
                      ))}
                    </select>
                    <textarea name={`content-${slot}`} rows={4} placeholder="What visitors should see">
                      {content}
                    </textarea>
                  </div>
                );
              })
            )}
            <details>
              <summary>Advanced: the whole rule as JSON</summary>
              <textarea name="rule-json" rows={10} readonly>
                {JSON.stringify(rule ?? {}, null, 2)}
              </textarea>
            </details>
          </fieldset>
          <div class="publish">
            <label data-pointer="message">
              What changed (for the history)
              <input name="message" placeholder="e.g. New autumn hero for electronics fans" />
            </label>
            <button type="button" id="publish" class="primary">
              Publish
            </button>
            <p id="status" class="status" role="status" />
          </div>
        </form>
        <aside class="card preview">
          <h2>Preview</h2>
          <label>
            As seen by
            <select id="sample-visitor">
              {SAMPLE_VISITORS.map((sample) => (
                <option value={sample.id} data-attributes={JSON.stringify(sample.attributes)}>
                  {sample.label}
                </option>
              ))}
            </select>
          </label>
          <button type="button" id="preview">
            Show preview
          </button>
          <ul id="preview-decisions" class="decisions" />
          <iframe id="preview-frame" title="Preview of the homepage" sandbox="" />
        </aside>
      </div>
    </Layout>
  );
};

export const JsonEditorPage: FC<{ csrf: string; document: RulesDocument | null; liveVersion: number | null }> = ({
  csrf,
  document,
  liveVersion,
}) => (
  <Layout title="Rules as JSON" csrf={csrf}>
    <section class="card json-editor">
      <h1>The whole rules document</h1>
      <p class="muted">For people who like JSON. Problems appear below as you type; publishing is blocked while there are errors.</p>
      <textarea id="document-json" rows={30} spellcheck={false} data-live-version={String(liveVersion ?? "")}>
        {JSON.stringify(document ?? { slots: {}, rules: [] }, null, 2)}
      </textarea>
      <div id="general-problems" class="problems" />
      <label>
        What changed <input name="message" id="json-message" />
      </label>
      <label>
        Guarded rollout (optional): <input type="number" id="json-rollout-percent" min={1} max={100} placeholder="%" /> % of visitors for{" "}
        <input type="number" id="json-rollout-minutes" min={1} max={1440} value="15" /> minutes, rolled back automatically if worse
      </label>
      <button type="button" id="publish-json" class="primary">
        Publish
      </button>
      <p id="status" class="status" role="status" />
    </section>
  </Layout>
);

/** The health page (`/admin/health`), the same figures as `GET /admin/api/health`. */
export const HealthPage: FC<{
  csrf: string;
  health: HealthFigures & {
    killSwitch: KillSwitchView;
    liveVersion: number | null;
    rollout: RolloutInfo | null;
    recentRollouts: RolloutInfo[];
    deadLetters: { total: number; byReason: { queue: string; reason: string; count: number }[]; oldestFailedAt: string | null };
  };
}> = ({ csrf, health }) => (
  <Layout title="Health" csrf={csrf}>
    <HealthView {...health} />
  </Layout>
);
