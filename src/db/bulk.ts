import { CompiledQuery, sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from './schema.js';

export type Column = readonly [name: string, pgType: string];

/** A value of a bulk-loaded column: numbers and strings (ints, text, inet, date as text) or null. */
export type BulkValue = string | number | null;

/**
 * Rows for one table, kept column-wise until written by `writeRows`. Values are encoded by hand
 * (COPY text on PostgreSQL, array literals elsewhere): pg's generic array serialiser escapes
 * every element with a regular expression, which cost more than the parse of the report itself.
 */
export class Rows {
  readonly values: BulkValue[][];
  length = 0;

  constructor(
    readonly table: keyof DB & string,
    readonly columns: readonly Column[],
  ) {
    this.values = columns.map(() => []);
  }

  add(...row: BulkValue[]): void {
    const values = this.values;
    for (let i = 0; i < values.length; i++) values[i]!.push(row[i]!);
    this.length++;
  }
}

/** A string value as COPY text: backslash, tab, line feed and carriage return escaped. */
function copyText(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c || c === 0x09 || c === 0x0a || c === 0x0d) return s.replace(/[\\\t\n\r]/g, copyEscape);
  }
  return s;
}

function copyEscape(c: string): string {
  return c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r';
}

/** The rows in PostgreSQL's COPY text format, one line per row. */
export function copyTextOf(rows: Rows): string {
  const values = rows.values;
  const n = values.length;
  let out = '';
  for (let r = 0; r < rows.length; r++) {
    for (let c = 0; c < n; c++) {
      const v = values[c]![r];
      out += v === null ? '\\N' : typeof v === 'number' ? String(v) : copyText(v!);
      out += c === n - 1 ? '\n' : '\t';
    }
  }
  return out;
}

/** One column as an array literal (`{"a","b",NULL}`); every element is quoted, which suits every type. */
export function arrayLiteralOf(column: readonly BulkValue[]): string {
  let out = '{';
  for (let i = 0; i < column.length; i++) {
    if (i > 0) out += ',';
    const v = column[i];
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v === 'number') out += String(v);
    else out += quoteElement(v);
  }
  return out + '}';
}

function quoteElement(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c || c === 0x22) return `"${s.replace(/[\\"]/g, '\\$&')}"`;
  }
  return `"${s}"`;
}

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

/** `unnestInsert` with the arrays encoded by `arrayLiteralOf`, passed as text. */
function rowsInsert(rows: Rows): RawBuilder<unknown> {
  const names = sql.raw(rows.columns.map(([name]) => name).join(', '));
  const arrays = sql.join(rows.columns.map(([, type], i) => sql`${arrayLiteralOf(rows.values[i]!)}::text::${sql.raw(type)}[]`));
  return sql`insert into ${sql.table(rows.table)} (${names}) select * from unnest(${arrays})`;
}

/**
 * `COPY table (…) FROM STDIN` through node-postgres. node-postgres runs any object with a
 * `submit(connection)` method as a query, and Kysely's pg driver hands its SQL to
 * `client.query()` unchanged, so this object travels as the "SQL" of a compiled query and runs on
 * the transaction's own connection. It is a thenable, which is what the driver awaits.
 */
class CopyFromStdin implements PromiseLike<{ command: string; rowCount: number; rows: never[] }> {
  private readonly done: Promise<{ command: string; rowCount: number; rows: never[] }>;
  private resolve!: (value: { command: string; rowCount: number; rows: never[] }) => void;
  private reject!: (error: Error) => void;
  private rowCount = 0;
  private settled = false;

  constructor(
    readonly text: string,
    private readonly data: Buffer | null,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  then<A = { command: string; rowCount: number; rows: never[] }, B = never>(
    onFulfilled?: ((value: { command: string; rowCount: number; rows: never[] }) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.done.then(onFulfilled, onRejected);
  }

  submit(connection: PgConnection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: PgConnection): void {
    if (this.data === null) {
      connection.sendCopyFail('no data');
      return;
    }
    const chunk = 256 * 1024;
    for (let off = 0; off < this.data.length; off += chunk) connection.sendCopyFromChunk(this.data.subarray(off, off + chunk));
    connection.endCopyFrom();
  }

  handleCommandComplete(message: { text?: string }): void {
    const n = /(\d+)$/.exec(message.text ?? '');
    if (n) this.rowCount = Number(n[1]);
  }

  handleError(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(error);
  }

  handleReadyForQuery(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve({ command: 'COPY', rowCount: this.rowCount, rows: [] });
  }

  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}

interface PgConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
}

function runSubmittable(db: Kysely<DB>, query: CopyFromStdin): Promise<unknown> {
  const compiled = CompiledQuery.raw('');
  return db.executeQuery({ ...compiled, sql: query as unknown as string });
}

const copySupport = new WeakMap<object, Promise<boolean>>();

/**
 * Whether `db` runs on Kysely's node-postgres driver, where COPY FROM STDIN can be sent as above.
 * Looked up once per driver, without sending anything: PGlite's driver must never see such an
 * object (it writes it into its protocol stream and breaks the session), and any driver not
 * recognised gets the generic path, which stores the same rows.
 */
export function supportsCopy(db: Kysely<DB>): Promise<boolean> {
  const executor = db.getExecutor();
  let known = copySupport.get(executor.adapter);
  if (known === undefined) {
    known = executor.provideConnection(async (connection) => connection.constructor.name === 'PostgresConnection');
    copySupport.set(executor.adapter, known);
  }
  return known;
}

/** Makes `db` (and every Kysely sharing its driver) write through the generic path: for tests and measurements. */
export function useGenericWrites(db: Kysely<DB>): void {
  copySupport.set(db.getExecutor().adapter, Promise.resolve(false));
}

/**
 * Writes rows to their tables: with COPY FROM STDIN when `copy` is true (node-postgres), else as
 * one statement of `insert … select * from unnest(…)` per table, joined as data-modifying CTEs.
 * Both paths store exactly the same values.
 */
export async function writeRows(db: Kysely<DB>, tables: Rows[], copy: boolean): Promise<void> {
  const nonEmpty = tables.filter((t) => t.length > 0);
  if (nonEmpty.length === 0) return;
  if (copy) {
    for (const rows of nonEmpty) {
      const columns = rows.columns.map(([name]) => name).join(', ');
      await runSubmittable(db, new CopyFromStdin(`copy ${rows.table} (${columns}) from stdin`, Buffer.from(copyTextOf(rows))));
    }
    return;
  }
  await insertTogether(db, nonEmpty.map(rowsInsert));
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
