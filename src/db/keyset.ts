import { sql, type Expression, type SelectQueryBuilder, type SqlBool } from 'kysely';
import { z } from 'zod';
import { decodeCursor } from '../api/pagination.js';

export type SortDirection = 'asc' | 'desc';

/**
 * A value a list can be sorted by. Rows are ordered by it and then by their id, both in the
 * chosen direction, NULLs last either way; a page cursor holds the last row's (value, id), so
 * pages neither skip nor repeat rows however many share a value.
 */
export interface SortKey<Row> {
  sql: Expression<unknown>;
  /** How the value is written in a cursor; `time` values are compared to the millisecond (see `toMillisecond`). */
  type: 'text' | 'number' | 'time';
  nullable?: boolean;
  /** The value of a fetched row, exactly as `sql` computes it. */
  of: (row: Row) => string | number | Date | null;
}

/** The (sort value, id) of the last row of a page. */
export type SortCursor = readonly [string | number | null, number];

/** A list's order: one of its sort keys (by name) and a direction. */
export interface ListOrder<K extends string> {
  by: K;
  dir: SortDirection;
}

/** A timestamp cut to the millisecond: a cursor keeps no more (the database keeps microseconds). */
export function toMillisecond(value: Expression<unknown>) {
  return sql<Date>`date_trunc('milliseconds', ${value})`;
}

/** A text value as its rank in `ranks` (roles, scopes): sorted by meaning rather than spelling. */
export function rankOf(value: Expression<unknown>, ranks: Record<string, number>) {
  const cases = Object.entries(ranks).map(([name, rank]) => sql`when ${sql.lit(name)} then ${sql.lit(rank)}`);
  return sql<number>`case ${value} ${sql.join(cases, sql` `)} end`;
}

function cursorValue(type: SortKey<unknown>['type'], value: string | number) {
  return type === 'time' ? sql`${value}::timestamptz` : sql`${value}`;
}

/** Rows that come after the cursor's row in this order. */
function afterCursor<Row>(key: SortKey<Row>, dir: SortDirection, id: Expression<unknown>, after: SortCursor): Expression<SqlBool> {
  const past = sql.raw(dir === 'asc' ? '>' : '<');
  const [value, lastId] = after;
  if (value === null) return sql<SqlBool>`(${key.sql} is null and ${id} ${past} ${lastId})`;
  const beyond = sql<SqlBool>`(${key.sql}, ${id}) ${past} (${cursorValue(key.type, value)}, ${lastId})`;
  return key.nullable ? sql<SqlBool>`(${beyond} or ${key.sql} is null)` : beyond;
}

/** Orders a query by `key` then `id`, starting after the cursor's row (add the limit after this). */
export function orderedAfter<DB, TB extends keyof DB, O, Row>(
  query: SelectQueryBuilder<DB, TB, O>,
  key: SortKey<Row>,
  dir: SortDirection,
  id: Expression<unknown>,
  after: SortCursor | null,
): SelectQueryBuilder<DB, TB, O> {
  const filtered = after === null ? query : query.where(afterCursor(key, dir, id, after));
  const ordered = key.nullable ? filtered.orderBy(key.sql, (ob) => (dir === 'asc' ? ob.asc() : ob.desc()).nullsLast()) : filtered.orderBy(key.sql, dir);
  return ordered.orderBy(id, dir);
}

/** The cursor of a fetched row. */
export function sortCursorOf<Row>(key: SortKey<Row>, row: Row, id: number): SortCursor {
  const value = key.of(row);
  return [value instanceof Date ? value.toISOString() : value, id];
}

/** The cursor in a page link, checked against the key's type; 400 (an ApiError) when it is not one of ours. */
export function decodeSortCursor<Row>(cursor: string | undefined, key: SortKey<Row>): SortCursor | null {
  const base: z.ZodType<string | number> = key.type === 'time' ? z.iso.datetime() : key.type === 'number' ? z.number() : z.string();
  const value: z.ZodType<string | number | null> = key.nullable ? base.nullable() : base;
  return decodeCursor(cursor, z.tuple([value, z.number().int()]));
}
