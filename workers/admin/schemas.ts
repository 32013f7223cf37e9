/**
 * Request and response bodies of the admin API. The OpenAPI description (`openapi.ts`) is
 * generated from these.
 * @module
 */
import { z } from "zod";

/** A rules document as sent for checking; the full schema is `RulesDocument` (docs/schemas/rules-document.schema.json). */
const DocumentBody = z.record(z.string(), z.unknown()).describe("A rules document (see docs/schemas/rules-document.schema.json)");

export const ValidateRequest = z.strictObject({ document: DocumentBody });

export const PublishRequest = z.strictObject({
  document: DocumentBody,
  message: z.string().min(1).max(500).describe("What changed and why, for the version list and the audit log"),
});

export const RollbackRequest = z.strictObject({ version: z.number().int().positive() });

export const PreviewRequest = z.strictObject({
  path: z.string().startsWith("/").max(512).default("/"),
  /** A draft to preview instead of the live document. */
  document: DocumentBody.optional(),
  visitor: z.strictObject({
    /** Attributes by name, e.g. {"behavior.views_10m.category.electronics": 3, "geo.country": "DE"}. */
    attributes: z.record(z.string().max(256), z.unknown()).optional(),
    /** A real visitor's cookie id: their stored profile is read (and the attributes above added). */
    visitorId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{22}$/)
      .optional(),
  }),
  /** Experiment variants to show: experiment id → variant. */
  forced: z.record(z.string(), z.string()).optional(),
});

export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  errors: z.array(z.object({ pointer: z.string(), detail: z.string() })).optional(),
  problems: z.array(z.object({ pointer: z.string(), message: z.string(), severity: z.enum(["error", "warning"]) })).optional(),
});

export const LintResult = z.object({
  valid: z.boolean(),
  problems: z.array(
    z.object({
      pointer: z.string().describe("JSON pointer into the document"),
      message: z.string(),
      severity: z.enum(["error", "warning"]),
    }),
  ),
});

export const LiveRules = z.object({
  version: z.number().int().nullable(),
  document: z.record(z.string(), z.unknown()).nullable(),
  refused: z
    .object({ version: z.number().int(), problems: z.array(z.object({ pointer: z.string(), message: z.string() })), at: z.string() })
    .nullable(),
});

export const VersionList = z.object({
  versions: z.array(
    z.object({
      version: z.number().int(),
      author: z.string().nullable(),
      message: z.string().nullable(),
      publishedAt: z.string().nullable(),
      live: z.boolean(),
    }),
  ),
});

export const Diff = z.object({
  from: z.number().int(),
  to: z.number().int(),
  changes: z.array(
    z.object({
      pointer: z.string(),
      change: z.enum(["added", "removed", "changed"]),
      before: z.unknown().optional(),
      after: z.unknown().optional(),
    }),
  ),
});

export const AuditLog = z.object({
  entries: z.array(
    z.object({ at: z.string(), actor: z.string(), action: z.string(), version: z.number().int().nullable(), detail: z.string() }),
  ),
});

export const PreviewResult = z.object({
  path: z.string(),
  slots: z.array(z.record(z.string(), z.unknown())),
  page: z.record(z.string(), z.unknown()),
  holdout: z.boolean(),
  trace: z.array(z.record(z.string(), z.unknown())),
  scores: z.record(z.string(), z.number()),
  fallbacks: z.array(z.string()),
  html: z.string().nullable().describe("The page as the visitor would get it"),
});
