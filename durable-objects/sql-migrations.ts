/**
 * Schema migrations for SQLite-backed Durable Objects: a numbered list of statements per class,
 * applied in order inside `blockConcurrencyWhile` before the object serves any call.
 * @module
 */

/** Migration N is `migrations[N - 1]`; each is a list of statements applied in one transaction. */
export type Migrations = readonly (readonly string[])[];

/**
 * Applies every migration newer than the stored schema version; returns the version now in place.
 * Cheap to call again: one indexed read when the schema is current.
 */
export function migrate(storage: DurableObjectStorage, migrations: Migrations): number {
  const sql = storage.sql;
  sql.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
  const current = sql.exec<{ version: number | null }>("SELECT MAX(version) AS version FROM schema_migrations").one().version ?? 0;
  for (let version = current + 1; version <= migrations.length; version++) {
    const statements = migrations[version - 1] ?? [];
    storage.transactionSync(() => {
      for (const statement of statements) sql.exec(statement);
      sql.exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", version, Date.now());
    });
  }
  return migrations.length;
}
