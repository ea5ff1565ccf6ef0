import { z } from 'zod';
import { badRequest } from './errors.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/** `limit` and `cursor` query parameters of every list. */
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE).describe(`Items per page (1–${MAX_PAGE_SIZE}).`),
  cursor: z.string().max(512).optional().describe('The `nextCursor` of the previous page.'),
});

/** A page of a list: `nextCursor` is null on the last page. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}

/**
 * Keyset cursors: the sort key of the last item of a page, opaque to clients (base64url JSON).
 * A list orders by (key, id) descending or ascending and asks for `limit + 1` rows to know whether
 * another page follows.
 */
export type CursorKey = ReadonlyArray<string | number | null>;

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** The key inside a cursor, checked against the shape the list expects; 400 when it is not one. */
export function decodeCursor<T extends z.ZodType<CursorKey>>(cursor: string | undefined, shape: T): z.infer<T> | null {
  if (cursor === undefined || cursor === '') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badRequest('The cursor is not one this list gave out; start again without it.', 'invalid_cursor');
  }
  const result = shape.safeParse(parsed);
  if (!result.success) throw badRequest('The cursor is not one this list gave out; start again without it.', 'invalid_cursor');
  return result.data;
}

/** The first `limit` of the `limit + 1` rows fetched, and the cursor after them when there are more. */
function cut<Row>(rows: Row[], limit: number, keyOf: (row: Row) => CursorKey): { pageRows: Row[]; nextCursor: string | null } {
  const more = rows.length > limit;
  const pageRows = more ? rows.slice(0, limit) : rows;
  const last = pageRows[pageRows.length - 1];
  return { pageRows, nextCursor: more && last !== undefined ? encodeCursor(keyOf(last)) : null };
}

/** Cuts the `limit + 1` rows fetched into a page and the cursor of its last item. */
export function toPage<Row, Item>(rows: Row[], limit: number, keyOf: (row: Row) => CursorKey, toItem: (row: Row) => Item): { items: Item[]; nextCursor: string | null } {
  const { pageRows, nextCursor } = cut(rows, limit, keyOf);
  return { items: pageRows.map(toItem), nextCursor };
}

/** A response body that is already JSON text: the router sends it as it is. */
export class JsonText {
  constructor(readonly text: string) {}
}

/**
 * As `toPage`, for items the database wrote as JSON text: the page is joined as text, without
 * parsing the items and writing them again.
 */
export function toJsonTextPage<Row>(rows: Row[], limit: number, keyOf: (row: Row) => CursorKey, itemText: (row: Row) => string): JsonText {
  const { pageRows, nextCursor } = cut(rows, limit, keyOf);
  return new JsonText(`{"items":[${pageRows.map(itemText).join(',')}],"nextCursor":${JSON.stringify(nextCursor)}}`);
}
