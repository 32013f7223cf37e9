/**
 * The admin API described in OpenAPI 3.1, generated from the same zod schemas the routes parse
 * with, and a plain browsable page of it (no third-party viewer: nothing is loaded from outside).
 * @module
 */

import { Model, RulesDocument } from "../../shared/rules/document.ts";
import * as z from "../../shared/zod.ts";
import { UserErasureRequest, UserErasureResponse } from "./erasure.ts";
import {
  AuditLog,
  Diff,
  Health,
  KillSwitchRequest,
  KillSwitchStatus,
  LintResult,
  LiveRules,
  ModelPublished,
  PauseRequest,
  PreviewLink,
  PreviewLinkRequest,
  PreviewRequest,
  PreviewResult,
  Problem,
  PublishRequest,
  RollbackRequest,
  RolloutInfo,
  ValidateRequest,
  VersionList,
} from "./schemas.ts";

export interface Operation {
  method: "get" | "post" | "put";
  path: string;
  summary: string;
  request?: z.ZodMiniType;
  response: z.ZodMiniType;
  status?: number;
  parameters?: { name: string; in: "query" | "path"; description: string; required?: boolean }[];
}

export const OPERATIONS: readonly Operation[] = [
  {
    method: "get",
    path: "/admin/api/rules",
    summary:
      "The rules serving and their version (the live one, or the last good one while the live one is refused as invalid), and the refused one",
    response: LiveRules,
  },
  {
    method: "post",
    path: "/admin/api/rules/validate",
    summary: "Check a draft: every problem with its JSON pointer, as error or warning",
    request: ValidateRequest,
    response: LintResult,
  },
  {
    method: "post",
    path: "/admin/api/rules",
    summary:
      "Publish a document as the next version and make it live; with `rollout`, a guarded publish: the new version serves that share of visitors for that many minutes, is rolled back automatically if its pages fall back significantly more often than the live version's, and is promoted to everyone at the end if the test could run (otherwise the live version stays). Refused (409) while another rollout is in progress.",
    request: PublishRequest,
    response: z.object({ version: z.int(), rollout: z.nullable(RolloutInfo), problems: LintResult.shape.problems }),
    status: 201,
  },
  {
    method: "get",
    path: "/admin/api/rules/versions",
    summary: "Every published version with author, time and message",
    response: VersionList,
  },
  {
    method: "get",
    path: "/admin/api/rules/versions/{version}",
    summary: "One version's document and its check",
    response: z.record(z.string(), z.unknown()),
    parameters: [{ name: "version", in: "path", description: "Version number", required: true }],
  },
  {
    method: "get",
    path: "/admin/api/rules/diff",
    summary: "What changed between two versions",
    response: Diff,
    parameters: [
      { name: "from", in: "query", description: "Older version", required: true },
      { name: "to", in: "query", description: "Newer version", required: true },
    ],
  },
  {
    method: "post",
    path: "/admin/api/rules/rollback",
    summary: "Make an earlier version live again",
    request: RollbackRequest,
    response: RollbackRequest,
  },
  {
    method: "post",
    path: "/admin/api/preview",
    summary: "Decisions and rendered page for a described or real visitor, against the live rules or a draft",
    request: PreviewRequest,
    response: PreviewResult,
  },
  {
    method: "post",
    path: "/admin/api/preview-links",
    summary:
      "Mint a QA preview link: forced experiment variants (each must be in the live rules) on one page, for at most seven days. The token is signed over the variants, the page and the expiry; on any other page, or once expired, it is ignored. A forced variant shows even to a visitor in the holdout.",
    request: PreviewLinkRequest,
    response: PreviewLink,
    status: 201,
  },
  {
    method: "put",
    path: "/admin/api/models/{key}",
    summary:
      'Publish a model (logistic or item-to-item) under a `models:` key, signed with RULES_SIGNING_KEY so that pages use it; rules reference it as `{"kv": "<key>"}`. Pages refuse a model written to KV any other way. Bodies up to 4 MiB (413 above). An existing key is refused (409 `model-exists`) unless `?replace=1`: publish each model under a new, versioned key, since isolates keep a model they have loaded. 400 `invalid-model-key` for a key that is not `models:[a-z0-9:_-]{1,120}`, 422 with each schema mismatch for an invalid model. Audited as `publish-model`.',
    request: Model,
    response: ModelPublished,
    status: 201,
    parameters: [
      { name: "key", in: "path", description: "The KV key, e.g. models:related:v3 (`:` may be sent as %3A)", required: true },
      { name: "replace", in: "query", description: "1 to replace a model already stored under the key" },
    ],
  },
  {
    method: "get",
    path: "/admin/api/audit",
    summary: "Who changed what, newest first",
    response: AuditLog,
    parameters: [{ name: "limit", in: "query", description: "How many entries (default 100)" }],
  },
  {
    method: "get",
    path: "/admin/api/experiments/{id}",
    summary: "An experiment's counts per variant and its sample ratio check",
    response: z.record(z.string(), z.unknown()),
    parameters: [{ name: "id", in: "path", description: "Experiment id", required: true }],
  },
  {
    method: "get",
    path: "/admin/api/dead-letters",
    summary: "Undeliverable messages waiting, by queue and reason",
    response: z.record(z.string(), z.unknown()),
  },
  {
    method: "post",
    path: "/admin/api/dead-letters/replay",
    summary: "Send dead letters back to their queues",
    response: z.object({ replayed: z.int(), remaining: z.int() }),
  },
  {
    method: "get",
    path: "/admin/api/kill-switch",
    summary: "Whether the kill switch is on, since when, by whom and why",
    response: KillSwitchStatus,
  },
  {
    method: "post",
    path: "/admin/api/kill-switch",
    summary:
      "Turn the kill switch on (every page passes through as the origin sent it, /v1/decide answers defaults, ingest keeps working) or off. This isolate switches at once, every other within RULES_REFRESH_MS. Turning it on cancels a rollout in progress. When the live pointer in KV does not parse, the switch is written on a pointer to the version this isolate serves (audited as `pointer-repair`); with no version serving either, 409 `live-pointer-invalid`.",
    request: KillSwitchRequest,
    response: KillSwitchStatus,
  },
  {
    method: "post",
    path: "/admin/api/rules/pause",
    summary: "Pause or resume one rule or experiment: publishes the live document with `paused` changed, the reason as its message",
    request: PauseRequest,
    response: z.object({ version: z.int(), kind: z.enum(["rule", "experiment"]), id: z.string(), paused: z.boolean() }),
  },
  {
    method: "get",
    path: "/admin/api/health",
    summary:
      "The last minutes of pages per version (fallbacks, failed actions, origin errors, decision time), fallbacks by stage, dead letters, kill switch, rollout in progress, live version, and when each isolate that reported last refreshed the rules",
    response: Health,
    parameters: [{ name: "minutes", in: "query", description: "How far back (1..60, default 15)" }],
  },
  {
    method: "post",
    path: "/admin/api/users/erase",
    summary: "Erase what Tailor keeps about a user (by the site's user id); audited under the user's pseudonym",
    request: UserErasureRequest,
    response: UserErasureResponse,
  },
];

function schema(type: z.ZodMiniType, io: "input" | "output"): unknown {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(type, { io, unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of OPERATIONS) {
    const entry: Record<string, unknown> = {
      summary: operation.summary,
      security: [{ bearer: [] }, { access: [] }],
      responses: {
        [String(operation.status ?? 200)]: {
          description: "OK",
          content: { "application/json": { schema: schema(operation.response, "output") } },
        },
        "401": {
          description: "Not authenticated",
          content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
        },
        "400": {
          description: "Malformed JSON, invalid UTF-8, or nested deeper than 16 levels",
          content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
        },
        "403": {
          description: "A change sent from another site, or from the editor without its CSRF token",
          content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
        },
        "413": {
          description: "The body is over 1 MiB (4 MiB for a model)",
          content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
        },
        "422": {
          description: "Invalid request or document",
          content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
        },
      },
    };
    if (operation.parameters !== undefined)
      entry.parameters = operation.parameters.map((parameter) => ({
        ...parameter,
        required: parameter.required ?? false,
        schema: { type: "string" },
      }));
    if (operation.request !== undefined)
      entry.requestBody = { required: true, content: { "application/json": { schema: schema(operation.request, "input") } } };
    paths[operation.path] = { ...paths[operation.path], [operation.method]: entry };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Tailor admin API",
      version: "1",
      description: "Versioned rules with publish, preview and rollback; experiment reports; dead letters.",
    },
    paths,
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "The ADMIN_TOKEN secret" },
        access: { type: "apiKey", in: "header", name: "Cf-Access-Jwt-Assertion", description: "Cloudflare Access, when configured" },
      },
      schemas: { Problem: schema(Problem, "output"), RulesDocument: schema(RulesDocument, "input") },
    },
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/** A readable page of the same description. */
export function openApiPage(): string {
  const document = openApiDocument();
  const sections = OPERATIONS.map((operation) => {
    const request =
      operation.request === undefined
        ? ""
        : `<h4>Request body</h4><pre>${escapeHtml(JSON.stringify(schema(operation.request, "input"), null, 2))}</pre>`;
    const response = `<h4>Response ${operation.status ?? 200}</h4><pre>${escapeHtml(JSON.stringify(schema(operation.response, "output"), null, 2))}</pre>`;
    const parameters =
      operation.parameters === undefined
        ? ""
        : `<ul>${operation.parameters.map((parameter) => `<li><code>${escapeHtml(parameter.name)}</code> (${parameter.in}) — ${escapeHtml(parameter.description)}</li>`).join("")}</ul>`;
    return `<section><h3><code>${operation.method.toUpperCase()} ${escapeHtml(operation.path)}</code></h3><p>${escapeHtml(operation.summary)}</p>${parameters}<details><summary>Schemas</summary>${request}${response}</details></section>`;
  }).join("");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tailor admin API</title><link rel="stylesheet" href="/admin/assets/admin.css"></head><body class="docs"><main><h1>${escapeHtml(String((document.info as { title: string }).title))}</h1><p>Authenticate with <code>Authorization: Bearer &lt;ADMIN_TOKEN&gt;</code> (or Cloudflare Access). Errors are RFC 9457 problems. Machine-readable: <a href="/admin/api/openapi.json">openapi.json</a>.</p>${sections}</main></body></html>`;
}
