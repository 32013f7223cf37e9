/**
 * Publishing of rules documents, one at a time. KV has no compare-and-set, so two marketers
 * publishing at once could both write "version 8"; this object hands out version numbers in order,
 * writes the immutable version to KV before it moves the live pointer (a reader never sees half a
 * publish), and keeps the audit log of who changed what. Versions written straight into KV with
 * `wrangler kv` are still listed (from KV) and still validated wherever they are read.
 *
 * It also holds the editor's open sessions: the cookie is signed, but only a session id listed
 * here is accepted, so signing out (or expiry) ends it server-side. One object is enough: sessions
 * are few and admin traffic is light.
 * @module
 */
import { DurableObject } from "cloudflare:workers";
import type { CompiledTemplate } from "../shared/html/template-render.ts";
import { CountsReport } from "../shared/rollout/counts.ts";
import { judgeRollout } from "../shared/rollout/guard.ts";
import { type KillSwitchState, LivePointer, RolloutRequest, type RolloutState, RULES_LIVE_KEY } from "../shared/rules/document.ts";
import {
  MIN_SIGNING_KEY_LENGTH,
  StoredVersionValue,
  signedVersion,
  usableSigningKey,
  type VersionMetadata,
} from "../shared/rules/signature.ts";
import * as z from "../shared/zod.ts";
import { recordRollback } from "../workers/common/analytics.ts";
import { type Migrations, migrate } from "./sql-migrations.ts";

const MIGRATIONS: Migrations = [
  [
    "CREATE TABLE versions (version INTEGER PRIMARY KEY, author TEXT NOT NULL, message TEXT NOT NULL, published_at INTEGER NOT NULL)",
    "CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, version INTEGER, detail TEXT NOT NULL)",
  ],
  // Editor sessions, so signing out ends a session everywhere (a copied cookie stops working).
  ["CREATE TABLE sessions (id TEXT PRIMARY KEY, actor TEXT NOT NULL, expires_at INTEGER NOT NULL)"],
  // The live pointer each publish replaced, so the versions page diffs against what was live (null: none, or unknown).
  ["ALTER TABLE versions ADD COLUMN replaced INTEGER"],
  // Guarded rollouts and the isolates' page counts (per minute and version) they are judged on.
  [
    "CREATE TABLE rollouts (version INTEGER PRIMARY KEY, previous INTEGER NOT NULL, percent INTEGER NOT NULL, started_at INTEGER NOT NULL, ends_at INTEGER NOT NULL, outcome TEXT, detail TEXT NOT NULL DEFAULT '', ended_at INTEGER)",
    "CREATE TABLE rollout_arms (rollout INTEGER NOT NULL, version INTEGER NOT NULL, pages INTEGER NOT NULL, failed_pages INTEGER NOT NULL, PRIMARY KEY (rollout, version))",
    "CREATE TABLE page_counts (minute INTEGER NOT NULL, version INTEGER NOT NULL, pages INTEGER NOT NULL, failed_pages INTEGER NOT NULL, failed_actions INTEGER NOT NULL, origin_errors INTEGER NOT NULL, decide_ms INTEGER NOT NULL, PRIMARY KEY (minute, version))",
    "CREATE TABLE fallback_counts (minute INTEGER NOT NULL, version INTEGER NOT NULL, stage TEXT NOT NULL, pages INTEGER NOT NULL, PRIMARY KEY (minute, version, stage))",
    "CREATE TABLE isolates (id TEXT PRIMARY KEY, serving INTEGER, refreshed_at INTEGER, reported_at INTEGER NOT NULL)",
  ],
  // The guard compares visitors (each counted once per version and report), not pages.
  [
    "ALTER TABLE rollout_arms ADD COLUMN visitors INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE rollout_arms ADD COLUMN failed_visitors INTEGER NOT NULL DEFAULT 0",
  ],
];

/** An arm nothing was counted for yet. */
const EMPTY_ARM = { pages: 0, failedPages: 0, visitors: 0, failedVisitors: 0 } as const;

/** How long page counts are kept for the health view. */
const COUNTS_KEPT_MS = 60 * 60_000;

export const Actor = z.string().check(z.minLength(1), z.maxLength(200));

/** A session id as the editor's cookie carries it (a random UUID). */
const SessionId = z.string().check(z.minLength(16), z.maxLength(64));

export interface VersionInfo {
  version: number;
  author: string | null;
  message: string | null;
  publishedAt: string | null;
  live: boolean;
}

export interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  version: number | null;
  detail: string;
}

/** How a guarded rollout ended. */
export type RolloutOutcome = "promoted" | "rolled-back" | "cancelled" | "inconclusive";

/** A guarded rollout as the admin sees it. */
export interface RolloutInfo {
  version: number;
  previous: number;
  percent: number;
  startedAt: string;
  endsAt: string;
  /** null while in progress; `inconclusive`: too few visitors to test by the end, so the previous version stayed live. */
  outcome: RolloutOutcome | null;
  detail: string;
  endedAt: string | null;
  arms: { version: number; pages: number; failedPages: number; visitors: number; failedVisitors: number }[];
}

/** The figures behind the health view, for the last `minutes`. */
export interface HealthFigures {
  minutes: {
    minute: string;
    version: number;
    pages: number;
    failedPages: number;
    failedActions: number;
    originErrors: number;
    decideMsAverage: number;
  }[];
  fallbacks: { stage: string; version: number; pages: number }[];
  isolates: { id: string; serving: number | null; refreshedAt: string | null; reportedAt: string }[];
}

interface PublishInput {
  document: Record<string, unknown>;
  /** The document's recommendation card templates, compiled by the caller's validation (by source). */
  templates?: Readonly<Record<string, CompiledTemplate>> | undefined;
  actor: string;
  message: string;
  rollout?: { percent: number; minutes: number } | undefined;
}

type PublishOutcome = { version: number; rollout: RolloutInfo | null } | { refused: string };

interface KillSwitchInput {
  enabled: boolean;
  reason: string;
  actor: string;
  serving?: number | undefined;
}

/** Metadata stored with each version in KV, so `wrangler kv key list` shows it too. */
export class RulesRegistry extends DurableObject<Env> {
  readonly #storage: DurableObjectStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#storage = ctx.storage;
    void ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage, MIGRATIONS);
    });
  }

  /**
   * The last pointer change queued. Every change reads the KV pointer, awaits KV and writes it
   * back; two at once (a publish and the kill switch, the guard and a rollback) would each write
   * what it read and drop the other's change, so they run one after another.
   */
  #pointerChanges: Promise<unknown> = Promise.resolve();

  #serialised<T>(change: () => Promise<T>): Promise<T> {
    const next = this.#pointerChanges.then(() => change());
    // A change that fails must not block the ones after it; its caller gets the error.
    this.#pointerChanges = next.catch(() => undefined);
    return next;
  }

  /**
   * Publishes an already validated document as the next version and makes it live. The caller
   * validates; this object orders, signs (so the page path can trust the stored bytes without
   * validating them again: shared/rules/signature.ts) and records.
   */
  publish(input: PublishInput): Promise<PublishOutcome> {
    return this.#serialised(() => this.#publish(input));
  }

  async #publish(input: PublishInput): Promise<PublishOutcome> {
    const actor = Actor.parse(input.actor);
    const message = z.string().check(z.maxLength(500)).parse(input.message);
    const rollout = z.optional(RolloutRequest).parse(input.rollout);
    const templates = StoredVersionValue.shape.templates.parse(input.templates ?? {});
    if (!usableSigningKey(this.env.RULES_SIGNING_KEY))
      return { refused: `RULES_SIGNING_KEY is not set (or shorter than ${MIN_SIGNING_KEY_LENGTH} characters): nothing can be published` };
    const pointer = await this.#pointer();
    if (pointer?.rollout !== undefined)
      return { refused: `version ${pointer.rollout.version} is still rolling out; wait for it to end or roll back first` };
    const version = (await this.#highestVersion()) + 1;
    const replaced = pointer?.version ?? null;
    const publishedAt = new Date().toISOString();
    const stored = await signedVersion(
      this.env.RULES_SIGNING_KEY,
      version,
      { document: { ...input.document, version }, templates },
      { author: actor, message, publishedAt },
    );
    // The version first, the pointer last.
    await this.env.RULES.put(stored.key, stored.text, { metadata: stored.metadata });
    // A rollout needs a live version to compare with; the first publish goes to everyone.
    const guarded = rollout !== undefined && replaced !== null && rollout.percent < 100 ? rollout : undefined;
    if (guarded === undefined || replaced === null)
      await this.#writePointer({ version, ...(pointer?.killSwitch ? { killSwitch: pointer.killSwitch } : {}) });
    else {
      const now = Date.now();
      const state: RolloutState = {
        version,
        percent: guarded.percent,
        salt: crypto.randomUUID(),
        startedAt: new Date(now).toISOString(),
        endsAt: new Date(now + guarded.minutes * 60_000).toISOString(),
      };
      // A rollout still marked running here but gone from the pointer (the pointer was rewritten
      // outside this object) must not be the one the alarm or the counts judge.
      this.#storage.sql.exec(
        "UPDATE rollouts SET outcome = 'cancelled', detail = ?, ended_at = ? WHERE outcome IS NULL",
        "cancelled: no longer in the live pointer",
        now,
      );
      // A version number seen before (KV wiped and republished) starts with empty arms.
      this.#storage.sql.exec("DELETE FROM rollout_arms WHERE rollout = ?", version);
      this.#storage.sql.exec(
        "INSERT OR REPLACE INTO rollouts (version, previous, percent, started_at, ends_at) VALUES (?, ?, ?, ?, ?)",
        version,
        replaced,
        state.percent,
        now,
        Date.parse(state.endsAt),
      );
      await this.#writePointer({ ...(pointer ?? { version: replaced }), rollout: state });
      await this.ctx.storage.setAlarm(Date.parse(state.endsAt));
    }
    this.#storage.sql.exec(
      "INSERT INTO versions (version, author, message, published_at, replaced) VALUES (?, ?, ?, ?, ?)",
      version,
      actor,
      message,
      Date.parse(publishedAt),
      replaced,
    );
    this.#audit(actor, "publish", version, message);
    if (guarded !== undefined && replaced !== null)
      this.#audit(
        actor,
        "rollout-start",
        version,
        `${guarded.percent}% of visitors for ${guarded.minutes} min, the rest on version ${replaced}`,
      );
    return { version, rollout: this.#rollout(version) };
  }

  /** Moves the live pointer back to an existing version (validated by the caller). */
  rollback(input: { version: number; actor: string }): Promise<void> {
    return this.#serialised(() => this.#rollback(input));
  }

  async #rollback(input: { version: number; actor: string }): Promise<void> {
    const actor = Actor.parse(input.actor);
    const version = z.int().check(z.positive()).parse(input.version);
    const pointer = await this.#pointer();
    const previous = pointer?.version ?? null;
    await this.#writePointer({ version, ...(pointer?.killSwitch ? { killSwitch: pointer.killSwitch } : {}) });
    if (pointer?.rollout !== undefined) this.#endRollout(pointer.rollout.version, "cancelled", `cancelled by ${actor}'s rollback`);
    this.#audit(actor, "rollback", version, previous === null ? "" : `from version ${previous}`);
  }

  /**
   * Turns the kill switch on or off; every isolate sees it on its next pointer refresh. `serving` is
   * the version the caller's isolate serves: when the pointer in KV does not parse (isolates keep
   * serving their last good version), the switch is written on a pointer to that version, so it
   * still works in an emergency; with neither, it is refused.
   */
  setKillSwitch(input: KillSwitchInput): Promise<{ state: KillSwitchState | null } | { refused: string }> {
    return this.#serialised(() => this.#setKillSwitch(input));
  }

  async #setKillSwitch(input: KillSwitchInput): Promise<{ state: KillSwitchState | null } | { refused: string }> {
    const actor = Actor.parse(input.actor);
    const reason = z.string().check(z.maxLength(500)).parse(input.reason);
    const serving = z.optional(z.int().check(z.positive())).parse(input.serving);
    const read = await this.#pointer();
    if (read === null && serving === undefined)
      return { refused: `${RULES_LIVE_KEY} is missing or does not parse and no version is serving; roll back to a version first` };
    const pointer: LivePointer = read ?? { version: serving ?? 0 };
    if (read === null)
      this.#audit(
        actor,
        "pointer-repair",
        pointer.version,
        `${RULES_LIVE_KEY} did not parse; rewritten on version ${pointer.version}, the version serving`,
      );
    const { killSwitch: _previous, rollout, ...rest } = pointer;
    const state: KillSwitchState | null = input.enabled ? { reason, actor, at: new Date().toISOString() } : null;
    // While the switch is on no pages are counted, so a rollout could never be judged: switching
    // on cancels it and leaves the previous version live (switching off must not bring it back).
    const cancelled = state !== null && rollout !== undefined;
    const kept = cancelled ? rest : { ...rest, ...(rollout === undefined ? {} : { rollout }) };
    await this.#writePointer(state === null ? kept : { ...kept, killSwitch: state });
    this.#audit(actor, input.enabled ? "kill-switch-on" : "kill-switch-off", pointer.version, reason);
    if (cancelled) {
      const detail = `cancelled by ${actor}'s kill switch; version ${pointer.version} stays live: ${this.#figures(rollout.version)}`;
      this.#endRollout(rollout.version, "cancelled", detail);
      this.#audit(actor, "rollout-cancel", rollout.version, detail);
      await this.ctx.storage.deleteAlarm();
    }
    return { state };
  }

  /** The kill switch as the live pointer has it (null: off). */
  async killSwitch(): Promise<KillSwitchState | null> {
    return (await this.#pointer())?.killSwitch ?? null;
  }

  /**
   * An isolate's page counts. Kept per minute for the health view; while a rollout runs, added to
   * its two arms and judged at once, so a bad version goes back within seconds of the evidence.
   */
  async report(input: CountsReport): Promise<{ accepted: boolean }> {
    const parsed = CountsReport.safeParse(input);
    if (!parsed.success) {
      console.error(JSON.stringify({ message: "page counts refused", problem: parsed.error.issues[0]?.message ?? "" }));
      return { accepted: false };
    }
    const report = parsed.data;
    const now = Date.now();
    const minute = Math.floor(now / 60_000) * 60_000;
    const sql = this.#storage.sql;
    const running = sql
      .exec<{ version: number; previous: number }>("SELECT version, previous FROM rollouts WHERE outcome IS NULL")
      .toArray()[0];
    for (const counts of report.versions) {
      sql.exec(
        `INSERT INTO page_counts (minute, version, pages, failed_pages, failed_actions, origin_errors, decide_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (minute, version) DO UPDATE SET pages = pages + excluded.pages, failed_pages = failed_pages + excluded.failed_pages,
         failed_actions = failed_actions + excluded.failed_actions, origin_errors = origin_errors + excluded.origin_errors, decide_ms = decide_ms + excluded.decide_ms`,
        minute,
        counts.version,
        counts.pages,
        counts.failedPages,
        counts.failedActions,
        counts.originErrors,
        counts.decideMs,
      );
      for (const [stage, pages] of Object.entries(counts.fallbacks))
        sql.exec(
          "INSERT INTO fallback_counts (minute, version, stage, pages) VALUES (?, ?, ?, ?) ON CONFLICT (minute, version, stage) DO UPDATE SET pages = pages + excluded.pages",
          minute,
          counts.version,
          stage,
          pages,
        );
      if (running !== undefined && (counts.version === running.version || counts.version === running.previous))
        sql.exec(
          `INSERT INTO rollout_arms (rollout, version, pages, failed_pages, visitors, failed_visitors) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (rollout, version) DO UPDATE SET pages = pages + excluded.pages, failed_pages = failed_pages + excluded.failed_pages,
           visitors = visitors + excluded.visitors, failed_visitors = failed_visitors + excluded.failed_visitors`,
          running.version,
          counts.version,
          counts.pages,
          counts.failedPages,
          counts.visitors,
          counts.failedVisitors,
        );
    }
    sql.exec(
      "INSERT OR REPLACE INTO isolates (id, serving, refreshed_at, reported_at) VALUES (?, ?, ?, ?)",
      report.isolate,
      report.serving,
      report.refreshedAt,
      now,
    );
    sql.exec("DELETE FROM page_counts WHERE minute < ?", now - COUNTS_KEPT_MS);
    sql.exec("DELETE FROM fallback_counts WHERE minute < ?", now - COUNTS_KEPT_MS);
    sql.exec("DELETE FROM isolates WHERE reported_at < ?", now - COUNTS_KEPT_MS);
    if (running !== undefined) await this.#serialised(() => this.#judge(running.version, false));
    return { accepted: true };
  }

  /** The rollout's end: promoted, unless the counts so far say it is worse. */
  override async alarm(): Promise<void> {
    const running = this.#storage.sql
      .exec<{ version: number; ends_at: number }>("SELECT version, ends_at FROM rollouts WHERE outcome IS NULL")
      .toArray()[0];
    if (running === undefined) return;
    // An alarm that fires early (it may be retried) re-arms for the end.
    if (Date.now() < running.ends_at) {
      await this.ctx.storage.setAlarm(running.ends_at);
      return;
    }
    await this.#serialised(() => this.#judge(running.version, true));
  }

  /** The rollout in progress, if any, and the most recent ones. */
  async rollouts(limit = 10): Promise<{ current: RolloutInfo | null; recent: RolloutInfo[] }> {
    const versions = this.#storage.sql
      .exec<{ version: number }>("SELECT version FROM rollouts ORDER BY started_at DESC LIMIT ?", Math.min(Math.max(1, limit), 100))
      .toArray();
    const recent = versions.flatMap(({ version }) => this.#rollout(version) ?? []);
    return { current: recent.find((rollout) => rollout.outcome === null) ?? null, recent };
  }

  /** Page counts per minute and version, fallbacks by stage, and the isolates that reported, over the last `minutes`. */
  async health(minutes = 15): Promise<HealthFigures> {
    const since = Date.now() - Math.min(Math.max(1, minutes), 60) * 60_000;
    const sql = this.#storage.sql;
    return {
      minutes: sql
        .exec<{
          minute: number;
          version: number;
          pages: number;
          failed_pages: number;
          failed_actions: number;
          origin_errors: number;
          decide_ms: number;
        }>("SELECT * FROM page_counts WHERE minute >= ? ORDER BY minute, version", since - 60_000)
        .toArray()
        .map((row) => ({
          minute: new Date(row.minute).toISOString(),
          version: row.version,
          pages: row.pages,
          failedPages: row.failed_pages,
          failedActions: row.failed_actions,
          originErrors: row.origin_errors,
          decideMsAverage: row.pages === 0 ? 0 : Math.round((10 * row.decide_ms) / row.pages) / 10,
        })),
      fallbacks: sql
        .exec<{ stage: string; version: number; pages: number }>(
          "SELECT stage, version, SUM(pages) AS pages FROM fallback_counts WHERE minute >= ? GROUP BY stage, version ORDER BY pages DESC",
          since - 60_000,
        )
        .toArray(),
      isolates: sql
        .exec<{ id: string; serving: number | null; refreshed_at: number | null; reported_at: number }>(
          "SELECT * FROM isolates WHERE reported_at >= ? ORDER BY reported_at DESC LIMIT 100",
          since,
        )
        .toArray()
        .map((row) => ({
          id: row.id.slice(0, 8),
          serving: row.serving,
          refreshedAt: row.refreshed_at === null ? null : new Date(row.refreshed_at).toISOString(),
          reportedAt: new Date(row.reported_at).toISOString(),
        })),
    };
  }

  /** Rolls the candidate back when it is worse; at the end (`final`) promotes it otherwise. */
  async #judge(version: number, final: boolean): Promise<void> {
    const rollout = this.#rollout(version);
    if (rollout === null || rollout.outcome !== null) return;
    const arm = (which: number) => rollout.arms.find((one) => one.version === which) ?? EMPTY_ARM;
    const verdict = judgeRollout(version, arm(version), arm(rollout.previous));
    const pointer = await this.#pointer();
    const keep = pointer?.killSwitch ? { killSwitch: pointer.killSwitch } : {};
    if (verdict.kind === "worse") {
      await this.#writePointer({ version: rollout.previous, ...keep });
      this.#endRollout(version, "rolled-back", verdict.detail);
      this.#audit("rollout guard", "rollout-rollback", version, verdict.detail);
      // The "rollbacks" alert counts these points (docs/analytics.md).
      recordRollback(this.env.ANALYTICS, {
        ruleId: "(version)",
        reason: "rollout-guard:fallbacks",
        fromVersion: version,
        toVersion: rollout.previous,
      });
      await this.ctx.storage.deleteAlarm();
      return;
    }
    if (!final) return;
    const figures = this.#figures(version);
    if (verdict.kind === "wait") {
      // Too few pages to tell whether the candidate is worse (traffic was low, or the kill switch
      // stopped the counting): the absence of evidence is no reason to give it to everyone.
      const detail = `v${version} not promoted, v${rollout.previous} stays live: too few visitors to test by the end of its rollout (${verdict.reason}); ${figures}`;
      await this.#writePointer({ version: rollout.previous, ...keep });
      this.#endRollout(version, "inconclusive", detail);
      this.#audit("rollout guard", "rollout-inconclusive", version, detail);
      return;
    }
    const detail = `promoted v${version} to everyone at the end of its rollout: ${figures}`;
    await this.#writePointer({ version, ...keep });
    this.#endRollout(version, "promoted", detail);
    this.#audit("rollout guard", "rollout-promote", version, detail);
  }

  /** A rollout's arms in words, for the audit log. */
  #figures(version: number): string {
    const rollout = this.#rollout(version);
    if (rollout === null) return "nothing counted";
    const arm = (which: number) => rollout.arms.find((one) => one.version === which) ?? EMPTY_ARM;
    const candidate = arm(version);
    const previous = arm(rollout.previous);
    return `${candidate.failedVisitors} of ${candidate.visitors} visitors with fallbacks vs ${previous.failedVisitors} of ${previous.visitors} (pages: ${candidate.failedPages} of ${candidate.pages} vs ${previous.failedPages} of ${previous.pages})`;
  }

  #endRollout(version: number, outcome: RolloutOutcome, detail: string): void {
    this.#storage.sql.exec(
      "UPDATE rollouts SET outcome = ?, detail = ?, ended_at = ? WHERE version = ?",
      outcome,
      detail,
      Date.now(),
      version,
    );
  }

  #rollout(version: number): RolloutInfo | null {
    const row = this.#storage.sql
      .exec<{
        version: number;
        previous: number;
        percent: number;
        started_at: number;
        ends_at: number;
        outcome: RolloutInfo["outcome"];
        detail: string;
        ended_at: number | null;
      }>("SELECT * FROM rollouts WHERE version = ?", version)
      .toArray()[0];
    if (row === undefined) return null;
    const arms = this.#storage.sql
      .exec<{ version: number; pages: number; failed_pages: number; visitors: number; failed_visitors: number }>(
        "SELECT version, pages, failed_pages, visitors, failed_visitors FROM rollout_arms WHERE rollout = ?",
        version,
      )
      .toArray()
      .map((arm) => ({
        version: arm.version,
        pages: arm.pages,
        failedPages: arm.failed_pages,
        visitors: arm.visitors,
        failedVisitors: arm.failed_visitors,
      }));
    return {
      version: row.version,
      previous: row.previous,
      percent: row.percent,
      startedAt: new Date(row.started_at).toISOString(),
      endsAt: new Date(row.ends_at).toISOString(),
      outcome: row.outcome,
      detail: row.detail,
      endedAt: row.ended_at === null ? null : new Date(row.ended_at).toISOString(),
      arms,
    };
  }

  /** Every version in KV, newest first, with author, time and message where known. */
  async versions(): Promise<VersionInfo[]> {
    const live = await this.#liveVersion();
    const known = new Map(
      this.#storage.sql
        .exec<{ version: number; author: string; message: string; published_at: number }>("SELECT * FROM versions")
        .toArray()
        .map((row) => [row.version, row]),
    );
    const found: VersionInfo[] = [];
    let cursor: string | undefined;
    do {
      const page: KVNamespaceListResult<VersionMetadata> = await this.env.RULES.list<VersionMetadata>({
        prefix: "rules:version:",
        ...(cursor === undefined ? {} : { cursor }),
      });
      for (const key of page.keys) {
        const version = Number(key.name.slice("rules:version:".length));
        if (!Number.isInteger(version) || version <= 0) continue;
        const row = known.get(version);
        const metadata = key.metadata;
        found.push({
          version,
          author: row?.author ?? metadata?.author ?? null,
          message: row?.message ?? metadata?.message ?? null,
          publishedAt: row !== undefined ? new Date(row.published_at).toISOString() : (metadata?.publishedAt ?? null),
          live: version === live,
        });
      }
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor !== undefined);
    return found.sort((a, b) => b.version - a.version);
  }

  /** For each version published here, the live version it replaced (null: none, or published before this was kept). */
  async replacedVersions(): Promise<{ version: number; replaced: number | null }[]> {
    return this.#storage.sql.exec<{ version: number; replaced: number | null }>("SELECT version, replaced FROM versions").toArray();
  }

  /** The newest audit entries, newest first. */
  async audit(limit = 100): Promise<AuditEntry[]> {
    return this.#storage.sql
      .exec<{ at: number; actor: string; action: string; version: number | null; detail: string }>(
        "SELECT at, actor, action, version, detail FROM audit ORDER BY seq DESC LIMIT ?",
        Math.min(Math.max(1, limit), 1_000),
      )
      .toArray()
      .map((row) => ({
        at: new Date(row.at).toISOString(),
        actor: row.actor,
        action: row.action,
        version: row.version,
        detail: row.detail,
      }));
  }

  /** Opens an editor session until `expiresAt` (ms since the epoch); expired ones are dropped on the way. */
  async openSession(input: { id: string; actor: string; expiresAt: number }): Promise<void> {
    const id = SessionId.parse(input.id);
    const expiresAt = z.int().check(z.positive()).parse(input.expiresAt);
    this.#storage.sql.exec("DELETE FROM sessions WHERE expires_at <= ?", Date.now());
    this.#storage.sql.exec(
      "INSERT OR REPLACE INTO sessions (id, actor, expires_at) VALUES (?, ?, ?)",
      id,
      Actor.parse(input.actor),
      expiresAt,
    );
    this.#audit(Actor.parse(input.actor), "sign-in", null, "");
  }

  /** Whether an editor session is open (signed in, not signed out, not expired). */
  async isSessionOpen(id: string): Promise<boolean> {
    const parsed = SessionId.safeParse(id);
    if (!parsed.success) return false;
    return this.#storage.sql.exec("SELECT 1 FROM sessions WHERE id = ? AND expires_at > ?", parsed.data, Date.now()).toArray().length > 0;
  }

  /** Ends an editor session: its cookie is refused from now on, wherever it was copied to. */
  async closeSession(id: string): Promise<void> {
    const parsed = SessionId.safeParse(id);
    if (!parsed.success) return;
    const row = this.#storage.sql.exec<{ actor: string }>("SELECT actor FROM sessions WHERE id = ?", parsed.data).toArray()[0];
    this.#storage.sql.exec("DELETE FROM sessions WHERE id = ?", parsed.data);
    if (row !== undefined) this.#audit(row.actor, "sign-out", null, "");
  }

  /** Records something done outside this object (a refused publish, a preview). */
  async note(input: { actor: string; action: string; version: number | null; detail: string }): Promise<void> {
    this.#audit(
      Actor.parse(input.actor),
      z.string().check(z.maxLength(40)).parse(input.action),
      input.version,
      z.string().check(z.maxLength(2_000)).parse(input.detail),
    );
  }

  #audit(actor: string, action: string, version: number | null, detail: string): void {
    this.#storage.sql.exec(
      "INSERT INTO audit (at, actor, action, version, detail) VALUES (?, ?, ?, ?, ?)",
      Date.now(),
      actor,
      action,
      version,
      detail,
    );
  }

  /** The live pointer, or null when there is none or it does not parse (a publish or rollback repairs it). */
  async #pointer(): Promise<LivePointer | null> {
    const text = await this.env.RULES.get(RULES_LIVE_KEY, "text");
    if (text === null) return null;
    try {
      const pointer = LivePointer.safeParse(JSON.parse(text));
      return pointer.success ? pointer.data : null;
    } catch {
      return null;
    }
  }

  async #writePointer(pointer: LivePointer): Promise<void> {
    await this.env.RULES.put(RULES_LIVE_KEY, JSON.stringify(LivePointer.parse(pointer)));
  }

  /** The live version, or null when there is no pointer or it does not parse. */
  async #liveVersion(): Promise<number | null> {
    return (await this.#pointer())?.version ?? null;
  }

  /** The highest version anywhere: in our table, in KV (including direct writes), or live. */
  async #highestVersion(): Promise<number> {
    const ours = this.#storage.sql.exec<{ version: number | null }>("SELECT MAX(version) AS version FROM versions").one().version ?? 0;
    const inKv = (await this.versions()).reduce((highest, info) => Math.max(highest, info.version), 0);
    return Math.max(ours, inKv, (await this.#liveVersion()) ?? 0);
  }
}
