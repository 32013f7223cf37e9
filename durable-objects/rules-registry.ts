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
import { LivePointer, RULES_LIVE_KEY, rulesVersionKey } from "../shared/rules/document.ts";
import * as z from "../shared/zod.ts";
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
];

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

/** Metadata stored with each version in KV, so `wrangler kv key list` shows it too. */
interface VersionMetadata {
  author: string;
  message: string;
  publishedAt: string;
}

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
   * Publishes an already validated document as the next version and makes it live. The caller
   * validates; this object only orders and records.
   */
  async publish(input: { document: Record<string, unknown>; actor: string; message: string }): Promise<{ version: number }> {
    const actor = Actor.parse(input.actor);
    const message = z.string().check(z.maxLength(500)).parse(input.message);
    const version = (await this.#highestVersion()) + 1;
    const replaced = await this.#liveVersion();
    const publishedAt = new Date().toISOString();
    const metadata: VersionMetadata = { author: actor, message, publishedAt };
    // The version first, the pointer last.
    await this.env.RULES.put(rulesVersionKey(version), JSON.stringify({ ...input.document, version }), { metadata });
    await this.env.RULES.put(RULES_LIVE_KEY, JSON.stringify({ version }));
    this.#storage.sql.exec(
      "INSERT INTO versions (version, author, message, published_at, replaced) VALUES (?, ?, ?, ?, ?)",
      version,
      actor,
      message,
      Date.parse(publishedAt),
      replaced,
    );
    this.#audit(actor, "publish", version, message);
    return { version };
  }

  /** Moves the live pointer back to an existing version (validated by the caller). */
  async rollback(input: { version: number; actor: string }): Promise<void> {
    const actor = Actor.parse(input.actor);
    const version = z.int().check(z.positive()).parse(input.version);
    const previous = await this.#liveVersion();
    await this.env.RULES.put(RULES_LIVE_KEY, JSON.stringify({ version }));
    this.#audit(actor, "rollback", version, previous === null ? "" : `from version ${previous}`);
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

  /** The live version, or null when there is no pointer or it is not `{"version": n}` (a publish or rollback repairs it). */
  async #liveVersion(): Promise<number | null> {
    const text = await this.env.RULES.get(RULES_LIVE_KEY, "text");
    if (text === null) return null;
    try {
      const pointer = LivePointer.safeParse(JSON.parse(text));
      return pointer.success ? pointer.data.version : null;
    } catch {
      return null;
    }
  }

  /** The highest version anywhere: in our table, in KV (including direct writes), or live. */
  async #highestVersion(): Promise<number> {
    const ours = this.#storage.sql.exec<{ version: number | null }>("SELECT MAX(version) AS version FROM versions").one().version ?? 0;
    const inKv = (await this.versions()).reduce((highest, info) => Math.max(highest, info.version), 0);
    return Math.max(ours, inKv, (await this.#liveVersion()) ?? 0);
  }
}
