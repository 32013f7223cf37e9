/**
 * Schema migrations for SQLite-backed Durable Objects: a numbered list of statements per class,
 * applied in order inside `blockConcurrencyWhile` before the object serves any call.
 * @module
 */

/** Migration N is `migrations[N - 1]`; each is a list of statements applied in one transaction. */
export type Migrations = readonly (readonly string[])[];

/**
 * Where an object that opts in keeps its schema version instead of a `schema_migrations` table: in
 * a comment inside the `CREATE TABLE` statement of `table`, which SQLite keeps in `sqlite_master`
 * (a row that exists anyway). A new object then creates no table and writes no row for the version.
 * Only a fresh schema is recorded so; the first migration after it creates `schema_migrations`.
 */
export interface VersionMark {
  table: string;
}

const MARK = /\/\* schema version (\d+) \*\//;

/** `statement` with the version comment, if it creates the marked table. */
function marked(statement: string, mark: VersionMark, version: number): string {
  const create = new RegExp(`^\\s*CREATE TABLE (IF NOT EXISTS )?${mark.table}\\s*\\(`);
  return statement.replace(create, (head) => `${head}/* schema version ${version} */`);
}

/**
 * The schema version in place; 0 for a database that was never migrated. Reads only, writes
 * nothing. With `mark`, a database without `schema_migrations` answers the version its marked table
 * carries.
 */
export function schemaVersion(sql: SqlStorage, mark?: VersionMark): number {
  const tracked = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").toArray().length > 0;
  if (tracked) return sql.exec<{ version: number | null }>("SELECT MAX(version) AS version FROM schema_migrations").one().version ?? 0;
  if (mark === undefined) return 0;
  const created = sql
    .exec<{ sql: string | null }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", mark.table)
    .toArray()[0]?.sql;
  const version = created?.match(MARK)?.[1];
  return version === undefined ? 0 : Number(version);
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
  /** Record a fresh schema's version in its marked table rather than in `schema_migrations` (`VersionMark`). */
  mark?: VersionMark,
): number {
  const sql = storage.sql;
  const current = schemaVersion(sql, mark);
  if (current >= migrations.length) return current;
  if (current === 0 && fresh !== undefined && mark !== undefined) {
    const statements = fresh.map((statement) => marked(statement, mark, migrations.length));
    if (statements.every((statement, index) => statement === fresh[index]))
      throw new Error(`the fresh schema does not create the marked table ${mark.table}`);
    storage.transactionSync(() => {
      for (const statement of statements) sql.exec(statement);
    });
    return migrations.length;
  }
  const untracked = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").toArray().length === 0;
  if (untracked) sql.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
  // A marked fresh schema's version starts the table's history, so later migrations follow it.
  if (untracked && current > 0) sql.exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", current, Date.now());
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
