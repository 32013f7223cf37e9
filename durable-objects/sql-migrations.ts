/**
 * Schema migrations for SQLite-backed Durable Objects: a numbered list of statements per class,
 * applied in order inside `blockConcurrencyWhile` before the object serves any call.
 * @module
 */

/** Migration N is `migrations[N - 1]`; each is a list of statements applied in one transaction. */
export type Migrations = readonly (readonly string[])[];

/** The schema version in place; 0 for a database that was never migrated. Reads only, writes nothing. */
export function schemaVersion(sql: SqlStorage): number {
  const tracked = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").toArray().length > 0;
  return tracked ? (sql.exec<{ version: number | null }>("SELECT MAX(version) AS version FROM schema_migrations").one().version ?? 0) : 0;
}

/**
 * Applies every migration newer than the stored schema version; returns the version now in place.
 * Cheap to call again: two reads and no statement that writes when the schema is current (a
 * restarted object pays this on its first call).
 */
export function migrate(
  storage: Pick<DurableObjectStorage, "sql" | "transactionSync">,
  migrations: Migrations,
  /** The schema all migrations leave, for a database that has none yet: applied at once, recorded as the last version. */
  fresh?: readonly string[],
): number {
  const sql = storage.sql;
  const current = schemaVersion(sql);
  if (current >= migrations.length) return current;
  if (current === 0) sql.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
  if (current === 0 && fresh !== undefined) {
    storage.transactionSync(() => {
      for (const statement of fresh) sql.exec(statement);
      sql.exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", migrations.length, Date.now());
    });
    return migrations.length;
  }
  for (let version = current + 1; version <= migrations.length; version++) {
    const statements = migrations[version - 1] ?? [];
    storage.transactionSync(() => {
      for (const statement of statements) sql.exec(statement);
      sql.exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", version, Date.now());
    });
  }
  return migrations.length;
}
