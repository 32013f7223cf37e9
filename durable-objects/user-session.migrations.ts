/**
 * SQLite schema of the `UserSession` Durable Object, one numbered migration per change.
 * Documented table by table in docs/storage.md.
 * @module
 */
import type { Migrations, VersionMark } from "./sql-migrations.ts";

/** The `batches` table as migration 4 created it (one row per accepted batch, a `forwarded` flag). */
const BATCHES_4 = `CREATE TABLE batches (
  seq INTEGER PRIMARY KEY,
  received_at INTEGER NOT NULL,
  size INTEGER NOT NULL,
  events TEXT NOT NULL,
  counts TEXT NOT NULL,
  forwarded INTEGER NOT NULL DEFAULT 0
)`;
/**
 * The `batches` table as it is now (docs/storage.md): a row holds one or more accepted batches
 * received within a day (`first_at` to `received_at`), `sent` counts its leading events the queue
 * has taken, and the newest row carries the visitor's profile state.
 */
const BATCHES = `CREATE TABLE batches (
  seq INTEGER PRIMARY KEY,
  received_at INTEGER NOT NULL,
  size INTEGER NOT NULL,
  events TEXT NOT NULL,
  counts TEXT NOT NULL,
  sent INTEGER NOT NULL DEFAULT 0,
  state TEXT,
  first_at INTEGER
)`;
const MINUTES = "CREATE TABLE minutes (minute INTEGER PRIMARY KEY, counts TEXT NOT NULL)";
const META = "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID";

export const USER_SESSION_MIGRATIONS: Migrations = [
  // 1: raw events (bounded; also the outbox for the events queue), per-minute counters for sliding
  //    windows, lifetime totals, and small named values (profile state, identity links, merges).
  [
    `CREATE TABLE events (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      message_id TEXT NOT NULL UNIQUE,
      type TEXT NOT NULL,
      event TEXT,
      category TEXT,
      product_id TEXT,
      path TEXT,
      received_at INTEGER NOT NULL,
      client_time INTEGER,
      properties TEXT NOT NULL,
      forwarded INTEGER NOT NULL DEFAULT 0
    )`,
    "CREATE INDEX events_by_time ON events (received_at)",
    "CREATE INDEX events_to_forward ON events (forwarded) WHERE forwarded = 0",
    `CREATE TABLE counters (
      metric TEXT NOT NULL,
      key TEXT NOT NULL,
      minute INTEGER NOT NULL,
      count INTEGER NOT NULL,
      PRIMARY KEY (metric, key, minute)
    ) WITHOUT ROWID`,
    `CREATE TABLE totals (
      metric TEXT NOT NULL,
      key TEXT NOT NULL,
      count INTEGER NOT NULL,
      PRIMARY KEY (metric, key)
    ) WITHOUT ROWID`,
    META,
  ],
  // 2: the personalizations the visitor was shown (for attributing clicks and conversions), and the
  //    feedback messages an event gave rise to, forwarded with it.
  [
    `CREATE TABLE exposures (
      decision_id TEXT NOT NULL,
      slot TEXT NOT NULL,
      rule_id TEXT NOT NULL,
      experiment TEXT,
      variant TEXT,
      at INTEGER NOT NULL,
      PRIMARY KEY (decision_id, slot)
    ) WITHOUT ROWID`,
    "CREATE INDEX exposures_by_time ON exposures (at)",
    "ALTER TABLE events ADD COLUMN feedback TEXT",
  ],
  // 3: exposures moved to the sharded ExposureMemory objects (one write per shard and batch instead
  //    of one per visitor and page view).
  ["DROP TABLE exposures"],
  // 4: a few rows written per batch instead of several per event (docs/decisions/0014): the new
  //    events of a batch and their per-minute counts in one `batches` row (also the outbox); counts
  //    of pruned batches in one `minutes` row per minute; lifetime totals derived from those plus
  //    what expired minutes held. The rows of migration 1 are carried over: one batch per old event
  //    (its counts already in the old counters), one minute row per old minute.
  [
    BATCHES_4,
    MINUTES,
    `INSERT INTO batches (seq, received_at, size, counts, events, forwarded)
     SELECT seq, received_at, 1, '{}', json_array(json_object(
       'event', json_object('messageId', message_id, 'type', type, 'event', event, 'category', category, 'productId', product_id,
         'path', path, 'receivedAt', received_at, 'clientTime', client_time,
         'properties', CASE WHEN json_valid(properties) THEN json(properties) ELSE json_object() END, 'consent', NULL),
       'feedback', CASE WHEN json_valid(feedback) THEN json(feedback) ELSE json_array() END)), forwarded
     FROM events`,
    `INSERT INTO minutes (minute, counts)
     SELECT minute, json_group_object(metric || '|' || key, count) FROM counters GROUP BY minute`,
    `INSERT INTO meta (name, value)
     SELECT 'totals_before', json_group_object(id, count) FROM (
       SELECT t.metric || '|' || t.key AS id,
         t.count - COALESCE((SELECT SUM(c.count) FROM counters c WHERE c.metric = t.metric AND c.key = t.key), 0) AS count
       FROM totals t
     ) WHERE count <> 0 HAVING COUNT(*) > 0`,
    "DROP TABLE events",
    "DROP TABLE counters",
    "DROP TABLE totals",
  ],
  // 5: about one row written per batch (docs/decisions/0021): a row may take further batches
  //    received within a day of its first, so the forwarded flag becomes a count of the row's leading
  //    events sent (a flagged row was sent in full), and the profile state moves from `meta` into the
  //    newest row. Rows from before have no `first_at`: their `received_at` stands in.
  [
    "ALTER TABLE batches RENAME COLUMN forwarded TO sent",
    "UPDATE batches SET sent = size WHERE sent = 1 AND size <> 1",
    "ALTER TABLE batches ADD COLUMN state TEXT",
    "ALTER TABLE batches ADD COLUMN first_at INTEGER",
    "UPDATE batches SET state = (SELECT value FROM meta WHERE name = 'state') WHERE seq = (SELECT MAX(seq) FROM batches)",
    "DELETE FROM meta WHERE name = 'state' AND EXISTS (SELECT 1 FROM batches)",
  ],
];

/**
 * The schema migrations 1–5 leave, created directly in an object that has none yet, as far as a
 * new visitor needs it: the `batches` table, which carries the schema version (`USER_SESSION_MARK`),
 * so a new visitor costs one table rather than four (docs/decisions/0021). `minutes` and `meta`
 * follow when first written (`USER_SESSION_ON_DEMAND`).
 */
export const USER_SESSION_SCHEMA: readonly string[] = [BATCHES];

/** The table whose `CREATE` statement records the schema version of an object created fresh. */
export const USER_SESSION_MARK: VersionMark = { table: "batches" };

/** Tables of the schema a fresh object creates only when it first writes to them. */
export const USER_SESSION_ON_DEMAND = {
  minutes: MINUTES.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"),
  meta: META.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"),
} as const;
