/**
 * Request and response bodies of the admin API. The OpenAPI description (`openapi.ts`) is
 * generated from these.
 * @module
 */
import { z } from "zod";
import { MAX_PREVIEW_TTL_MINUTES } from "../decide/preview.ts";

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

/** A QA preview link to mint: the variants to force, on which page, for how long. */
export const PreviewLinkRequest = z.strictObject({
  forced: z
    .record(z.string().min(1).max(64), z.string().min(1).max(64))
    .refine((forced) => Object.keys(forced).length > 0 && Object.keys(forced).length <= 20, "force between 1 and 20 experiments")
    .describe('Experiment id → variant to show, e.g. {"hero-test": "b"}; each must be in the live rules'),
  path: z
    .string()
    .startsWith("/")
    .max(512)
    .regex(/^\/[^?#\s\\]*$/, "a path without query, fragment, spaces or backslashes")
    .refine((path) => !path.startsWith("//"), "a path, not a host")
    .default("/")
    .describe("The only page the link works on"),
  ttlMinutes: z
    .number()
    .int()
    .positive()
    .max(MAX_PREVIEW_TTL_MINUTES)
    .default(60)
    .describe(`How long the link works, in minutes (at most ${MAX_PREVIEW_TTL_MINUTES}, seven days)`),
  explain: z.boolean().default(false).describe("Whether the holder may also read the decision trace from /v1/decide"),
});

export const PreviewLink = z.object({
  url: z.string().describe("The page with ?tailor_preview=<token>, on the host the API was called on"),
  token: z.string(),
  expiresAt: z.string().describe("ISO 8601"),
  path: z.string(),
  forced: z.record(z.string(), z.string()),
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
  warnings: z.array(z.string()).describe("What is wrong with the rules in KV (a live pointer or version that does not parse), in words"),
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
