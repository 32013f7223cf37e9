/**
 * Counting the SQLite rows a Durable Object reads and writes, the unit Durable Object storage is
 * billed in: the sum of `rowsRead` and `rowsWritten` of every cursor its statements returned.
 *
 * A cursor's counts are final only once it has been read to the end, so cursors are kept aside and
 * added up when the totals are asked for (`settle`); by then every statement of earlier calls has
 * been consumed (each call reads its cursors synchronously). For benchmarks and tests only: the
 * counts are exposed over RPC, never on a route.
 * @module
 */

/** Rows read and written so far. */
export interface RowCounts {
  rowsRead: number;
  rowsWritten: number;
}

export class RowMeter {
  readonly sql: SqlStorage;
  #pending: SqlStorageCursor<Record<string, SqlStorageValue>>[] = [];
  #totals: RowCounts = { rowsRead: 0, rowsWritten: 0 };

  constructor(sql: SqlStorage) {
    const pending = this.#pending;
    // Same object for every other property (databaseSize, Cursor): only `exec` is observed.
    this.sql = new Proxy(sql, {
      get(target, property) {
        if (property !== "exec") {
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === "function" ? value.bind(target) : value;
        }
        return (query: string, ...bindings: unknown[]) => {
          const cursor = target.exec(query, ...bindings);
          pending.push(cursor);
          return cursor;
        };
      },
    });
  }

  /** The totals so far, including every cursor handed out until now. */
  settle(): RowCounts {
    for (const cursor of this.#pending.splice(0)) {
      this.#totals.rowsRead += cursor.rowsRead;
      this.#totals.rowsWritten += cursor.rowsWritten;
    }
    return { ...this.#totals };
  }
}
