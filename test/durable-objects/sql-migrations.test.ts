/**
 * The numbered-migration runner every SQLite-backed object uses, on a real object's storage (a
 * fresh `UserSession` holds no tables until its first write).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type Migrations, migrate, schemaVersion } from "../../durable-objects/sql-migrations.ts";

// Plain CREATE TABLE statements: running one a second time would throw.
const FIRST_TWO: Migrations = [
  ["CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"],
  ["ALTER TABLE notes ADD COLUMN at INTEGER"],
];
const THREE: Migrations = [...FIRST_TWO, ["CREATE INDEX notes_by_time ON notes (at)"]];

/** What the test migrations leave behind: the versions recorded, the notes kept, and whether the index exists. */
function migratedState(sql: SqlStorage) {
  return {
    versions: sql
      .exec<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version")
      .toArray()
      .map((row) => row.version),
    notes: sql.exec<{ body: string }>("SELECT body FROM notes").toArray(),
    index: sql.exec("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'notes_by_time'").toArray().length,
  };
}

describe("migrate", () => {
  it("applies each migration once, in order, and only the new ones later", async () => {
    const stub = env.USER_SESSION.getByName(`migrations-${crypto.randomUUID()}`);
    const result = await runInDurableObject(stub, (_, state) => {
      const sql = state.storage.sql;
      const before = schemaVersion(sql);
      const first = migrate(state.storage, FIRST_TWO);
      const again = migrate(state.storage, FIRST_TWO);
      sql.exec("INSERT INTO notes (body, at) VALUES ('kept', 1)");
      const third = migrate(state.storage, THREE);
      return {
        before,
        first,
        again,
        third,
        after: schemaVersion(sql),
        ...migratedState(sql),
      };
    });
    expect(result).toEqual({
      before: 0,
      first: 2,
      again: 2,
      third: 3,
      after: 3,
      versions: [1, 2, 3],
      notes: [{ body: "kept" }],
      index: 1,
    });
  });
});

describe("migrate with the version kept in a table's definition", () => {
  it("creates a fresh schema without schema_migrations, reads its version back, and migrates on from it keeping the data", async () => {
    const stub = env.USER_SESSION.getByName(`migrations-${crypto.randomUUID()}`);
    const result = await runInDurableObject(stub, (_, state) => {
      const sql = state.storage.sql;
      const mark = { table: "notes" };
      const fresh = ["CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, at INTEGER)"];
      const first = migrate(state.storage, FIRST_TWO, fresh, mark);
      const tracked = () => sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'").toArray().length > 0;
      const trackedAtFirst = tracked();
      const again = migrate(state.storage, FIRST_TWO, fresh, mark);
      sql.exec("INSERT INTO notes (body, at) VALUES ('kept', 1)");
      const third = migrate(state.storage, THREE, fresh, mark);
      return {
        first,
        trackedAtFirst,
        again,
        third,
        after: schemaVersion(sql, mark),
        ...migratedState(sql),
      };
    });
    expect(result).toEqual({
      first: 2,
      trackedAtFirst: false,
      again: 2,
      third: 3,
      after: 3,
      versions: [2, 3],
      notes: [{ body: "kept" }],
      index: 1,
    });
  });

  it("leaves objects without a mark as they were: a database tracked by schema_migrations ignores the mark", async () => {
    const stub = env.USER_SESSION.getByName(`migrations-${crypto.randomUUID()}`);
    const versions = await runInDurableObject(stub, (_, state) => {
      migrate(state.storage, FIRST_TWO);
      migrate(state.storage, THREE, ["CREATE TABLE notes (id INTEGER PRIMARY KEY)"], { table: "notes" });
      return state.storage.sql
        .exec<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version")
        .toArray()
        .map((row) => row.version);
    });
    expect(versions).toEqual([1, 2, 3]);
  });
});
