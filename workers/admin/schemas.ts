/**
 * Request and response bodies of the admin API. The OpenAPI description (`openapi.ts`) is
 * generated from these.
 * @module
 */

import { RolloutRequest } from "../../shared/rules/document.ts";
import * as z from "../../shared/zod.ts";
import { MAX_PREVIEW_TTL_MINUTES } from "../common/preview.ts";

/** A rules document as sent for checking; the full schema is `RulesDocument` (docs/schemas/rules-document.schema.json). */
const DocumentBody = z.record(z.string(), z.unknown()).check(z.describe("A rules document (see docs/schemas/rules-document.schema.json)"));

export const ValidateRequest = z.strictObject({ document: DocumentBody });

export const PublishRequest = z.strictObject({
  document: DocumentBody,
  message: z.string().check(z.minLength(1), z.maxLength(500), z.describe("What changed and why, for the version list and the audit log")),
  /** A guarded publish: the new version serves `percent` of visitors for `minutes`, rolled back automatically if worse. */
  rollout: z.optional(RolloutRequest),
});

/** Turning the kill switch on (every page passes through untouched) or off. */
export const KillSwitchRequest = z.strictObject({
  enabled: z.boolean(),
  reason: z.string().check(z.minLength(1), z.maxLength(500), z.describe("Why, for the audit log")),
});

export const KillSwitchStatus = z.object({
  enabled: z.boolean(),
  reason: z.nullable(z.string()),
  actor: z.nullable(z.string()),
  at: z.nullable(z.string().check(z.describe("ISO 8601: when it was turned on"))),
});

/** Pausing or resuming one rule or experiment: published as a new version. */
export const PauseRequest = z.strictObject({
  kind: z.enum(["rule", "experiment"]),
  id: z.string().check(z.minLength(1), z.maxLength(64)),
  paused: z.boolean(),
  reason: z.string().check(z.minLength(1), z.maxLength(400), z.describe("Why, for the version list and the audit log")),
});

export const RolloutInfo = z.object({
  version: z.int(),
  previous: z.int(),
  percent: z.int(),
  startedAt: z.string(),
  endsAt: z.string(),
  outcome: z.nullable(z.enum(["promoted", "rolled-back", "cancelled", "inconclusive"])),
  detail: z.string(),
  endedAt: z.nullable(z.string()),
  arms: z.array(z.object({ version: z.int(), pages: z.int(), failedPages: z.int(), visitors: z.int(), failedVisitors: z.int() })),
});

export const Health = z.object({
  killSwitch: KillSwitchStatus,
  liveVersion: z.nullable(z.int()),
  rollout: z.nullable(RolloutInfo),
  recentRollouts: z.array(RolloutInfo),
  minutes: z.array(
    z.object({
      minute: z.string(),
      version: z.int(),
      pages: z.int(),
      failedPages: z.int(),
      failedActions: z.int(),
      originErrors: z.int(),
      decideMsAverage: z.number(),
    }),
  ),
  fallbacks: z.array(z.object({ stage: z.string(), version: z.int(), pages: z.int() })),
  isolates: z.array(
    z.object({ id: z.string(), serving: z.nullable(z.int()), refreshedAt: z.nullable(z.string()), reportedAt: z.string() }),
  ),
  deadLetters: z.object({
    total: z.int(),
    byReason: z.array(z.object({ queue: z.string(), reason: z.string(), count: z.int() })),
    oldestFailedAt: z.nullable(z.string().check(z.describe("When the oldest message still waiting gave up (ISO 8601)"))),
  }),
});

export const RollbackRequest = z.strictObject({ version: z.int().check(z.positive()) });

export const PreviewRequest = z.strictObject({
  path: z._default(z.string().check(z.startsWith("/"), z.maxLength(512)), "/"),
  /** A draft to preview instead of the live document. */
  document: z.optional(DocumentBody),
  visitor: z.strictObject({
    /** Attributes by name, e.g. {"behavior.views_10m.category.electronics": 3, "geo.country": "DE"}. */
    attributes: z.optional(z.record(z.string().check(z.maxLength(256)), z.unknown())),
    /** A real visitor's cookie id: their stored profile is read (and the attributes above added). */
    visitorId: z.optional(z.string().check(z.regex(/^[A-Za-z0-9_-]{22}$/))),
  }),
  /** Experiment variants to show: experiment id → variant. */
  forced: z.optional(z.record(z.string(), z.string())),
});

/** A QA preview link to mint: the variants to force, on which page, for how long. */
export const PreviewLinkRequest = z.strictObject({
  forced: z.record(z.string().check(z.minLength(1), z.maxLength(64)), z.string().check(z.minLength(1), z.maxLength(64))).check(
    z.refine((forced) => Object.keys(forced).length > 0 && Object.keys(forced).length <= 20, "force between 1 and 20 experiments"),
    z.describe('Experiment id → variant to show, e.g. {"hero-test": "b"}; each must be in the live rules'),
  ),
  path: z
    ._default(
      z.string().check(
        z.startsWith("/"),
        z.maxLength(512),
        z.regex(/^\/[^?#\s\\]*$/, "a path without query, fragment, spaces or backslashes"),
        z.refine((path) => !path.startsWith("//"), "a path, not a host"),
      ),
      "/",
    )
    .check(z.describe("The only page the link works on")),
  ttlMinutes: z
    ._default(z.int().check(z.positive(), z.lte(MAX_PREVIEW_TTL_MINUTES)), 60)
    .check(z.describe(`How long the link works, in minutes (at most ${MAX_PREVIEW_TTL_MINUTES}, seven days)`)),
  explain: z._default(z.boolean(), false).check(z.describe("Whether the holder may also read the decision trace from /v1/decide")),
});

export const PreviewLink = z.object({
  url: z.string().check(z.describe("The page with ?tailor_preview=<token>, on the host the API was called on")),
  token: z.string(),
  expiresAt: z.string().check(z.describe("ISO 8601")),
  path: z.string(),
  forced: z.record(z.string(), z.string()),
});

/** What `PUT /admin/api/models/{key}` stored. */
export const ModelPublished = z.object({
  key: z.string(),
  type: z.enum(["logistic", "itemToItem"]),
  bytes: z.int().check(z.describe("The stored JSON's size")),
  replaced: z.boolean().check(z.describe("Whether a model was already stored under the key (only with ?replace=1)")),
  publishedAt: z.string().check(z.describe("ISO 8601")),
});

export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.int(),
  detail: z.optional(z.string()),
  errors: z.optional(z.array(z.object({ pointer: z.string(), detail: z.string() }))),
  problems: z.optional(z.array(z.object({ pointer: z.string(), message: z.string(), severity: z.enum(["error", "warning"]) }))),
});

export const LintResult = z.object({
  valid: z.boolean(),
  problems: z.array(
    z.object({
      pointer: z.string().check(z.describe("JSON pointer into the document")),
      message: z.string(),
      severity: z.enum(["error", "warning"]),
    }),
  ),
});

export const LiveRules = z.object({
  version: z.nullable(z.int()),
  document: z.nullable(z.record(z.string(), z.unknown())),
  refused: z.nullable(
    z.object({ version: z.int(), problems: z.array(z.object({ pointer: z.string(), message: z.string() })), at: z.string() }),
  ),
  warnings: z
    .array(z.string())
    .check(z.describe("What is wrong with the rules in KV (a live pointer or version that does not parse), in words")),
  rollout: z.nullable(RolloutInfo).check(z.describe("The guarded rollout in progress, if any")),
  killSwitch: KillSwitchStatus,
});

export const VersionList = z.object({
  versions: z.array(
    z.object({
      version: z.int(),
      author: z.nullable(z.string()),
      message: z.nullable(z.string()),
      publishedAt: z.nullable(z.string()),
      live: z.boolean(),
    }),
  ),
});

export const Diff = z.object({
  from: z.int(),
  to: z.int(),
  changes: z.array(
    z.object({
      pointer: z.string(),
      change: z.enum(["added", "removed", "changed"]),
      before: z.optional(z.unknown()),
      after: z.optional(z.unknown()),
    }),
  ),
});

export const AuditLog = z.object({
  entries: z.array(z.object({ at: z.string(), actor: z.string(), action: z.string(), version: z.nullable(z.int()), detail: z.string() })),
});

export const PreviewResult = z.object({
  path: z.string(),
  slots: z.array(z.record(z.string(), z.unknown())),
  page: z.record(z.string(), z.unknown()),
  holdout: z.boolean(),
  trace: z.array(z.record(z.string(), z.unknown())),
  scores: z.record(z.string(), z.number()),
  fallbacks: z.array(z.string()),
  html: z.nullable(z.string()).check(z.describe("The page as the visitor would get it")),
  htmlNote: z.optional(z.string().check(z.describe("Why there is no page (html is null)"))),
});
