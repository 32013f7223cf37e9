/**
 * The admin API for rules: read, validate, publish, list, diff, roll back and preview, plus the
 * audit log and the operational routes. Request and response bodies are zod schemas
 * (`schemas.ts`), from which the OpenAPI description is generated.
 * @module
 */
import { type Context, Hono } from "hono";
import { pointerOf } from "../../shared/json-pointer.ts";
import { type AttributeTree, nestAttributes } from "../../shared/profile/behavior.ts";
import { compileCheckedRules } from "../../shared/rules/checked.ts";
import { decide, type SlotDecision } from "../../shared/rules/decide.ts";
import { diffDocuments } from "../../shared/rules/diff.ts";
import { Model, ModelKey } from "../../shared/rules/document.ts";
import { checkDocumentMarkup } from "../../shared/rules/markup-checks.ts";
import { MIN_SIGNING_KEY_LENGTH, signedModel, usableSigningKey } from "../../shared/rules/signature.ts";
import type * as z from "../../shared/zod.ts";
import { parseJson, readTextBody } from "../common/body.ts";
import { settings } from "../common/config.ts";
import { loadModels, modelResolver } from "../common/models-store.ts";
import { originTargetForPath } from "../common/origin-target.ts";
import { placed } from "../common/placement.ts";
import { PREVIEW_PARAMETER, signPreview } from "../common/preview.ts";
import { Problem } from "../common/problem.ts";
import { rewritePage } from "../common/rewrite.ts";
import { forgetRules, readLiveDocument, readVersion, rulesStatus } from "../common/rules-store.ts";
import { Timings } from "../common/timings.ts";
import { validateDocument } from "../common/validate.ts";
import { pseudonymFor } from "../common/visitor.ts";
import type { AdminVariables } from "./auth.ts";
import { experimentReport } from "./experiment-report.ts";
import { lintDocument } from "./lint.ts";
import {
  KillSwitchRequest,
  PauseRequest,
  PreviewLinkRequest,
  PreviewRequest,
  PublishRequest,
  RollbackRequest,
  ValidateRequest,
} from "./schemas.ts";

type AdminContext = Context<{ Bindings: Env; Variables: AdminVariables }>;

export const adminApi = new Hono<{ Bindings: Env; Variables: AdminVariables }>();

/**
 * The largest admin request body accepted: a rules document with a few hundred rules is well under
 * 200 KB, and KV values stop at 25 MiB. Bigger bodies get a 413 problem before anything parses them.
 */
const MAX_ADMIN_BODY_BYTES = 1024 * 1024;

/**
 * The largest model a publish accepts (`PUT /admin/api/models/:key`): an item-to-item model for a
 * shop of a few thousand products, six neighbours each, is around 1 MiB. Every isolate holds each
 * model it uses in memory and the page waits `MODELS_DEADLINE_MS` for the first read, so bigger
 * ones are refused (413) rather than slowing pages down.
 */
export const MAX_MODEL_BYTES = 4 * 1024 * 1024;

/** The request body parsed by `schema`; a 422 problem naming each mismatch otherwise. */
export async function body<T extends z.ZodMiniType>(context: AdminContext, schema: T, limit = MAX_ADMIN_BODY_BYTES): Promise<z.infer<T>> {
  // Bounded while streaming, strict UTF-8, nesting depth limited (see workers/common/body.ts).
  const raw = parseJson(await readTextBody(context.req.raw, limit));
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new Problem(422, {
      slug: "invalid-request",
      title: "Invalid request",
      detail: parsed.error.issues[0]?.message ?? "The request does not match the schema.",
      extensions: { errors: parsed.error.issues.map((issue) => ({ pointer: pointerOf(issue.path), detail: issue.message })) },
    });
  }
  return parsed.data;
}

/** A stored version's document, or a 404/422 problem saying why it cannot be read. */
async function storedDocument(env: Env, version: number, label: string): Promise<unknown> {
  const stored = await readVersion(env, version);
  if (stored.ok) return stored.value;
  if (stored.reason === "missing")
    throw new Problem(404, { slug: "unknown-version", title: "Unknown version", detail: `There is no version ${label}.` });
  throw new Problem(422, {
    slug: "unreadable-version",
    title: "Unreadable version",
    detail: `Version ${label} in KV is not JSON (written by hand?); publish or roll back to another version.`,
  });
}

/** What the admin should know about the live rules in KV, in words. */
export function liveWarnings(): string[] {
  const { refused, pointer } = rulesStatus();
  const warnings: string[] = [];
  if (pointer !== undefined) warnings.push(pointer.detail);
  if (refused !== undefined) {
    const first = refused.problems[0];
    warnings.push(
      `version ${refused.version} is live in KV but refused${first === undefined ? "" : ` (${first.pointer || "/"}: ${first.message})`}; the last good version keeps serving`,
    );
  }
  return warnings;
}

/**
 * A draft as it will be published: the registry numbers versions, so whatever `version` a draft
 * carries (none, or the one it was pulled at) is replaced for checking.
 */
function asDraft(document: Record<string, unknown>): Record<string, unknown> {
  const version = document.version;
  return typeof version === "number" && Number.isInteger(version) && version > 0 ? document : { ...document, version: 1 };
}

/** Schema and Worker checks plus the marketer-facing lint; errors block a publish. */
function check(document: unknown): {
  valid: boolean;
  problems: { pointer: string; message: string; severity: "error" | "warning" }[];
  parsed: ReturnType<typeof validateDocument>;
} {
  const parsed = validateDocument(document);
  if (!parsed.ok) return { valid: false, problems: parsed.error.map((problem) => ({ ...problem, severity: "error" })), parsed };
  const problems = lintDocument(parsed.value, Date.now());
  return { valid: !problems.some((problem) => problem.severity === "error"), problems, parsed };
}

/** The card templates of a valid document, compiled, for the registry to store (and sign) beside it. */
function compiledTemplates(parsed: ReturnType<typeof validateDocument>) {
  return parsed.ok ? checkDocumentMarkup(parsed.value).templates : {};
}

function registry(env: Env) {
  return placed(env.RULES_REGISTRY, env).getByName("registry");
}

/** The kill switch as the API shows it. */
function killSwitchStatus(state: { reason: string; actor: string; at: string } | null) {
  return { enabled: state !== null, reason: state?.reason ?? null, actor: state?.actor ?? null, at: state?.at ?? null };
}

adminApi.get("/admin/api/rules", async (context) => {
  const live = await readLiveDocument(context.env);
  const { refused } = rulesStatus();
  const registryStub = registry(context.env);
  const [{ current }, killSwitch] = await Promise.all([registryStub.rollouts(1), registryStub.killSwitch()]);
  return context.json({
    version: live?.version ?? null,
    document: live?.document ?? null,
    refused: refused ?? null,
    warnings: liveWarnings(),
    rollout: current,
    killSwitch: killSwitchStatus(killSwitch),
  });
});

adminApi.post("/admin/api/rules/validate", async (context) => {
  const { document } = await body(context, ValidateRequest);
  const { valid, problems } = check(asDraft(document));
  return context.json({ valid, problems });
});

adminApi.post("/admin/api/rules", async (context) => {
  const { document, message, rollout } = await body(context, PublishRequest);
  const { valid, problems, parsed } = check(asDraft(document));
  const actor = context.get("actor");
  if (!valid) {
    await registry(context.env).note({
      actor,
      action: "publish-refused",
      version: null,
      detail: problems.find((problem) => problem.severity === "error")?.message ?? "",
    });
    throw new Problem(422, {
      slug: "invalid-rules",
      title: "The rules document has errors",
      detail: "Fix the errors before publishing.",
      extensions: { problems },
    });
  }
  const published = await registry(context.env).publish({
    document: document as Record<string, unknown>,
    templates: compiledTemplates(parsed),
    actor,
    message,
    rollout,
  });
  if ("refused" in published)
    throw new Problem(409, { slug: "rollout-in-progress", title: "A rollout is in progress", detail: published.refused });
  // This isolate serves the new version from its next request; others within RULES_REFRESH_MS.
  forgetRules();
  return context.json({ version: published.version, rollout: published.rollout, problems }, 201);
});

adminApi.get("/admin/api/rules/versions", async (context) => context.json({ versions: await registry(context.env).versions() }));

adminApi.get("/admin/api/rules/versions/:version", async (context) => {
  const label = context.req.param("version");
  const version = Number(label);
  const raw = await storedDocument(context.env, version, label);
  return context.json({ version, document: raw, ...check(raw) });
});

adminApi.get("/admin/api/rules/diff", async (context) => {
  const from = Number(context.req.query("from"));
  const to = Number(context.req.query("to"));
  const before = await storedDocument(context.env, from, String(context.req.query("from") ?? ""));
  const after = await storedDocument(context.env, to, String(context.req.query("to") ?? ""));
  return context.json({ from, to, changes: diffDocuments(before, after) });
});

adminApi.post("/admin/api/rules/rollback", async (context) => {
  const { version } = await body(context, RollbackRequest);
  const raw = await storedDocument(context.env, version, String(version));
  const stored = await readVersion(context.env, version);
  if (stored.ok && !stored.signed)
    throw new Problem(422, {
      slug: "unsigned-version",
      title: "That version is not signed",
      detail:
        "It was not stored by a publish (written into KV by hand, altered since, or signed with another key), so visitors would not be served it; publish its document instead.",
    });
  const { valid, problems } = check(raw);
  if (!valid)
    throw new Problem(422, {
      slug: "invalid-rules",
      title: "That version is not valid",
      detail: "A version with errors cannot be made live.",
      extensions: { problems },
    });
  await registry(context.env).rollback({ version, actor: context.get("actor") });
  forgetRules();
  return context.json({ version });
});

/**
 * Publishes a model under a `models:` key, signed so that pages use it (shared/rules/signature.ts):
 * the body is the model document. Keys are versioned by convention, since each isolate reads a
 * key once and keeps what it got: an existing key is replaced only with `?replace=1` (for
 * re-signing a model written before models were signed), and isolates that already loaded it keep
 * their copy until they are recycled. Audited as `publish-model`.
 */
adminApi.put("/admin/api/models/:key", async (context) => {
  const { env } = context;
  const key = ModelKey.safeParse(context.req.param("key"));
  if (!key.success)
    throw new Problem(400, {
      slug: "invalid-model-key",
      title: "Invalid model key",
      detail: "Model keys are `models:` and 1 to 120 of a-z, 0-9, `:`, `_` and `-`, e.g. models:related:v3.",
    });
  const model = await body(context, Model, MAX_MODEL_BYTES);
  if (!usableSigningKey(env.RULES_SIGNING_KEY))
    throw new Problem(503, {
      slug: "signing-key-missing",
      title: "Nothing can be signed",
      detail: `RULES_SIGNING_KEY is not set (or shorter than ${MIN_SIGNING_KEY_LENGTH} characters): pages would refuse the model.`,
    });
  const replace = context.req.query("replace") === "1";
  const exists = (await env.RULES.get(key.data, "text")) !== null;
  if (exists && !replace)
    throw new Problem(409, {
      slug: "model-exists",
      title: "That model key is taken",
      detail: `${key.data} is already in KV. Publish under a new key (e.g. with the next version number) and reference it from the rules; add ?replace=1 only to re-sign or repair it (isolates that loaded it keep their copy).`,
    });
  const actor = context.get("actor");
  const publishedAt = new Date().toISOString();
  const stored = await signedModel(env.RULES_SIGNING_KEY, key.data, model, { author: actor, publishedAt });
  await env.RULES.put(stored.key, stored.text, { metadata: stored.metadata });
  const bytes = new TextEncoder().encode(stored.text).byteLength;
  await registry(env).note({
    actor,
    action: "publish-model",
    version: null,
    detail: `${stored.key}: ${model.type}, ${bytes} bytes${exists ? ", replaced" : ""}`,
  });
  return context.json({ key: stored.key, type: model.type, bytes, replaced: exists, publishedAt }, 201);
});

adminApi.get("/admin/api/kill-switch", async (context) => context.json(killSwitchStatus(await registry(context.env).killSwitch())));

adminApi.post("/admin/api/kill-switch", async (context) => {
  const { enabled, reason } = await body(context, KillSwitchRequest);
  const live = await readLiveDocument(context.env);
  if (live === null && rulesStatus().pointer === undefined)
    throw new Problem(409, { slug: "no-rules", title: "No rules", detail: "Nothing is published yet; there is nothing to switch off." });
  const switched = await registry(context.env).setKillSwitch({ enabled, reason, actor: context.get("actor"), serving: live?.version });
  if ("refused" in switched)
    throw new Problem(409, { slug: "live-pointer-invalid", title: "The live pointer is invalid", detail: switched.refused });
  // This isolate switches at once; others on their next pointer refresh (RULES_REFRESH_MS).
  forgetRules();
  return context.json(killSwitchStatus(switched.state));
});

/** Pauses or resumes one rule or experiment by publishing the live document with the flag changed. */
adminApi.post("/admin/api/rules/pause", async (context) => {
  const { kind, id, paused, reason } = await body(context, PauseRequest);
  const live = await readLiveDocument(context.env);
  if (live === null) throw new Problem(409, { slug: "no-rules", title: "No rules", detail: "Nothing is published yet." });
  const stored = await storedDocument(context.env, live.version, String(live.version));
  const document = structuredClone(stored) as {
    rules?: { id?: unknown; paused?: boolean }[];
    experiments?: Record<string, { paused?: boolean }>;
  };
  const target =
    kind === "rule"
      ? document.rules?.find((rule) => rule.id === id)
      : Object.hasOwn(document.experiments ?? {}, id)
        ? document.experiments?.[id]
        : undefined;
  if (target === undefined)
    throw new Problem(404, { slug: `unknown-${kind}`, title: `Unknown ${kind}`, detail: `The live rules have no ${kind} "${id}".` });
  if (paused) target.paused = true;
  else delete target.paused;
  const { version: _replaced, ...draft } = document as Record<string, unknown>;
  const { valid, problems, parsed } = check(asDraft(draft));
  if (!valid)
    throw new Problem(422, {
      slug: "invalid-rules",
      title: "The live document has errors",
      detail: "Fix them by publishing.",
      extensions: { problems },
    });
  const published = await registry(context.env).publish({
    document: draft,
    templates: compiledTemplates(parsed),
    actor: context.get("actor"),
    message: `${paused ? "pause" : "resume"} ${kind} ${id}: ${reason}`,
  });
  if ("refused" in published)
    throw new Problem(409, { slug: "rollout-in-progress", title: "A rollout is in progress", detail: published.refused });
  forgetRules();
  return context.json({ version: published.version, kind, id, paused });
});

/** The health view's figures (`GET /admin/api/health` and the editor's health page). */
export async function healthReport(env: Env, minutes: number) {
  const registryStub = registry(env);
  const [figures, rollouts, killSwitch, deadLetters, live] = await Promise.all([
    registryStub.health(Number.isInteger(minutes) ? minutes : 15),
    registryStub.rollouts(5),
    registryStub.killSwitch(),
    placed(env.DEAD_LETTERS, env).getByName("all").summary(),
    readLiveDocument(env),
  ]);
  return {
    killSwitch: killSwitchStatus(killSwitch),
    liveVersion: live?.version ?? null,
    rollout: rollouts.current,
    recentRollouts: rollouts.recent,
    ...figures,
    // The oldest undelivered message: how far behind delivery is for what gave up (null: nothing waiting).
    deadLetters: {
      total: deadLetters.total,
      byReason: deadLetters.byReason,
      oldestFailedAt: deadLetters.sample[0] === undefined ? null : new Date(deadLetters.sample[0].failedAt).toISOString(),
    },
  };
}

/** The dashboard's guardrails panel: kill switch, rollout in progress, the last one. */
export async function guardSummary(env: Env) {
  const registryStub = registry(env);
  const [rollouts, killSwitch] = await Promise.all([registryStub.rollouts(1), registryStub.killSwitch()]);
  return { killSwitch: killSwitchStatus(killSwitch), rollout: rollouts.current, lastRollout: rollouts.recent[0] ?? null };
}

adminApi.get("/admin/api/health", async (context) =>
  context.json(await healthReport(context.env, Number(context.req.query("minutes") ?? "15"))),
);

adminApi.get("/admin/api/audit", async (context) =>
  context.json({ entries: await registry(context.env).audit(Number(context.req.query("limit") ?? "100")) }),
);

/**
 * The origin's page for the preview, rewritten with `slots`; `html: null` with a note when there is
 * none to show. Only the origin's own host is ever contacted, whatever the path looks like (`//host`,
 * backslashes), and a redirect is not followed: it could lead anywhere, and the admin would be shown
 * (and Tailor would fetch) another site's content. The body is read under the same deadline as the
 * headers; an origin that stalls mid-body gives no page rather than a 500.
 */
async function previewPage(env: Env, path: string, slots: readonly SlotDecision[]): Promise<{ html: string | null; htmlNote?: string }> {
  const { ORIGIN_URL, ORIGIN_TIMEOUT_MS } = settings(env);
  try {
    const origin = await fetch(originTargetForPath(ORIGIN_URL, path), {
      headers: { accept: "text/html" },
      redirect: "manual",
      signal: AbortSignal.timeout(ORIGIN_TIMEOUT_MS),
    });
    if (origin.status >= 300 && origin.status < 400) {
      await origin.body?.cancel();
      return { html: null, htmlNote: `The origin redirected (${origin.status}); redirects are not followed.` };
    }
    if (!origin.ok || !(origin.headers.get("content-type") ?? "").includes("text/html")) {
      await origin.body?.cancel();
      return { html: null, htmlNote: `The origin answered ${origin.status} without an HTML page.` };
    }
    return { html: await (slots.length > 0 ? rewritePage(origin, slots) : origin).text() };
  } catch (error) {
    const timedOut = typeof error === "object" && error !== null && "name" in error && error.name === "TimeoutError";
    return { html: null, htmlNote: timedOut ? "The origin did not send the whole page in time." : "The origin could not be reached." };
  }
}

/** The decisions and the rendered page for a described or real visitor, against the live rules or a draft. */
adminApi.post("/admin/api/preview", async (context) => {
  const { env } = context;
  const request = await body(context, PreviewRequest);
  const source = request.document === undefined ? ((await readLiveDocument(env))?.document ?? null) : asDraft(request.document);
  if (source === null)
    throw new Problem(409, { slug: "no-rules", title: "No rules", detail: "Nothing is published yet; send a draft document to preview." });
  const { valid, problems, parsed } = check(source);
  if (!parsed.ok || !valid)
    throw new Problem(422, {
      slug: "invalid-rules",
      title: "The rules document has errors",
      detail: "Fix the errors to preview.",
      extensions: { problems },
    });
  const rules = compileCheckedRules(parsed.value);
  const now = Date.now();
  const timings = new Timings();
  let unit = "preview-visitor";
  let profile: Record<string, unknown> = {};
  if (request.visitor.visitorId !== undefined) {
    unit = await pseudonymFor(request.visitor.visitorId, env.VISITOR_ID_SECRET);
    profile = (await placed(env.USER_SESSION, env).getByName(unit).readProfile({ attributes: rules.profileAttributes, now })) as Record<
      string,
      unknown
    >;
  }
  await loadModels(env, rules, 2_000, timings);
  const path = request.path;
  const attributes = nestAttributes(
    nestAttributes({ page: { path, query: {} }, visitor: { new: false } } as AttributeTree, profile),
    request.visitor.attributes ?? {},
  );
  const decision = decide(rules, {
    path,
    attributes,
    now,
    unit,
    model: modelResolver(rules),
    explain: true,
    ...(request.forced === undefined ? {} : { forced: request.forced }),
  });
  const { html, htmlNote } = await previewPage(env, path, decision.slots);
  return context.json({
    path,
    slots: decision.slots,
    page: decision.page,
    holdout: decision.holdout,
    trace: decision.trace ?? [],
    scores: decision.scores,
    fallbacks: decision.fallbacks,
    html,
    ...(htmlNote === undefined ? {} : { htmlNote }),
  });
});

/** Mints a QA preview link for the live rules: forced variants on one page, until it expires. */
adminApi.post("/admin/api/preview-links", async (context) => {
  const { env } = context;
  const request = await body(context, PreviewLinkRequest);
  const live = await readLiveDocument(env);
  if (live === null)
    throw new Problem(409, { slug: "no-rules", title: "No rules", detail: "Nothing is published yet; there is nothing to preview." });
  // Only what the live rules can show: a link that forces an unknown variant would preview nothing.
  const errors = Object.entries(request.forced).flatMap(([experiment, variant]) => {
    const known = live.document.experiments[experiment];
    if (known === undefined)
      return [{ pointer: pointerOf(["forced", experiment]), detail: `no experiment "${experiment}" in the live rules` }];
    if (!known.variants.includes(variant))
      return [
        {
          pointer: pointerOf(["forced", experiment]),
          detail: `experiment "${experiment}" has no variant "${variant}" (${known.variants.join(", ")})`,
        },
      ];
    return [];
  });
  if (errors.length > 0)
    throw new Problem(422, {
      slug: "invalid-request",
      title: "Invalid request",
      detail: errors[0]?.detail ?? "",
      extensions: { errors },
    });
  const expiresAt = Math.floor(Date.now() / 1_000) + request.ttlMinutes * 60;
  const token = await signPreview(
    { forced: request.forced, path: request.path, explain: request.explain, exp: expiresAt },
    env.VISITOR_ID_SECRET,
  );
  const url = new URL(request.path, context.req.url);
  url.searchParams.set(PREVIEW_PARAMETER, token);
  await registry(env).note({
    actor: context.get("actor"),
    action: "preview-link",
    version: live.version,
    detail: `${request.path} ${JSON.stringify(request.forced)} for ${request.ttlMinutes} min`,
  });
  return context.json(
    { url: url.toString(), token, expiresAt: new Date(expiresAt * 1_000).toISOString(), path: request.path, forced: request.forced },
    201,
  );
});

adminApi.get("/admin/api/dead-letters", async (context) =>
  context.json(await placed(context.env.DEAD_LETTERS, context.env).getByName("all").summary()),
);

adminApi.post("/admin/api/dead-letters/replay", async (context) => {
  const limit = Number(context.req.query("limit") ?? "1000");
  return context.json(
    await placed(context.env.DEAD_LETTERS, context.env)
      .getByName("all")
      .replay(Number.isFinite(limit) ? limit : 1_000),
  );
});

adminApi.get("/admin/api/experiments/:id", async (context) => {
  const id = context.req.param("id");
  const live = await readLiveDocument(context.env);
  const experiment = live?.document.experiments[id];
  if (experiment === undefined)
    throw new Problem(404, {
      slug: "unknown-experiment",
      title: "Unknown experiment",
      detail: `The live rules have no experiment "${id}".`,
    });
  return context.json(await experimentReport(context.env, id, experiment));
});
