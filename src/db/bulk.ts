import { sql, type Kysely } from 'kysely';
import type { DB } from './schema.js';

export type Column = readonly [name: string, pgType: string];

/**
 * Inserts rows column-wise through `unnest`: one statement and one parameter per column,
 * whatever the row count, on both pg and PGlite.
 */
export async function insertColumns(
  db: Kysely<DB>,
  table: keyof DB & string,
  columns: readonly Column[],
  values: unknown[][],
  onConflict = '',
): Promise<void> {
  const rowCount = values[0]?.length ?? 0;
  if (rowCount === 0) return;
  const names = sql.raw(columns.map(([name]) => name).join(', '));
  const arrays = sql.join(columns.map(([, type], i) => sql`${values[i]}::${sql.raw(type)}[]`));
  await sql`insert into ${sql.table(table)} (${names}) select * from unnest(${arrays}) ${sql.raw(onConflict)}`.execute(db);
}
