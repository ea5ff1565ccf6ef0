import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from './schema.js';

export type Column = readonly [name: string, pgType: string];

/**
 * `insert into table (…) select * from unnest($1::type[], …)`: one parameter per column whatever
 * the row count, identical on pg and PGlite. Values are given column-wise.
 */
export function unnestInsert(table: keyof DB & string, columns: readonly Column[], values: unknown[][], onConflict = ''): RawBuilder<unknown> {
  const names = sql.raw(columns.map(([name]) => name).join(', '));
  const arrays = sql.join(columns.map(([, type], i) => sql`${values[i]}::${sql.raw(type)}[]`));
  return sql`insert into ${sql.table(table)} (${names}) select * from unnest(${arrays}) ${sql.raw(onConflict)}`;
}

export async function insertColumns(
  db: Kysely<DB>,
  table: keyof DB & string,
  columns: readonly Column[],
  values: unknown[][],
  onConflict = '',
): Promise<void> {
  if ((values[0]?.length ?? 0) === 0) return;
  await unnestInsert(table, columns, values, onConflict).execute(db);
}

/** Several inserts in one statement (and one round trip) as data-modifying CTEs. */
export async function insertTogether(db: Kysely<DB>, inserts: RawBuilder<unknown>[]): Promise<void> {
  if (inserts.length === 0) return;
  if (inserts.length === 1) {
    await inserts[0]!.execute(db);
    return;
  }
  const ctes = sql.join(
    inserts.map((insert, i) => sql`${sql.raw(`i${i}`)} as (${insert})`),
    sql`, `,
  );
  await sql`with ${ctes} select 1`.execute(db);
}
