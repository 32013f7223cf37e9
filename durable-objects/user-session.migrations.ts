/**
 * SQLite schema of the `UserSession` Durable Object, one numbered migration per change.
 * Documented table by table in docs/storage.md.
 * @module
 */
import type { Migrations } from "./sql-migrations.ts";

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
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
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
];
