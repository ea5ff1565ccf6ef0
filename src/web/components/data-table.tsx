import type { Context } from 'hono';
import type { Child } from 'hono/jsx';

export type SortDirection = 'asc' | 'desc';

export interface Column<Row> {
  key: string;
  label: string;
  /** The plain value, for sorting links, CSV and JSON exports. */
  value: (row: Row) => string | number | boolean | null;
  /** What sorting compares, when not the plain value (e.g. addresses in numeric order). */
  sortKey?: (row: Row) => string | number | null;
  /** How the cell shows on the page; the plain value by default. */
  render?: (row: Row) => Child;
  sortable?: boolean;
  numeric?: boolean;
  /** The cell names its row (a row header), as a receiver's name does in a table of receivers. */
  rowHeader?: boolean;
}

export interface TableState {
  sort: string;
  dir: SortDirection;
  cursor: string | null;
  /**
   * Set when a page holds several tables: this table's query keys are then `<name>.sort`,
   * `<name>.dir` and `<name>.cursor`, and its downloads `?format=…&table=<name>`.
   */
  name?: string;
}

/** The query key of a table's sort, direction or cursor. */
export function tableKey(state: Pick<TableState, 'name'>, key: 'sort' | 'dir' | 'cursor'): string {
  return state.name === undefined ? key : `${state.name}.${key}`;
}

/**
 * The sort column (one of the sortable ones), direction and cursor from the query string. A sort
 * the table does not offer falls back to the default order, direction included. `options.name`
 * gives the table query keys of its own (see TableState.name).
 */
export function tableState<Row>(c: Context, columns: Column<Row>[], defaults: { sort: string; dir: SortDirection }, options: { name?: string } = {}): TableState {
  const named = options.name === undefined ? {} : { name: options.name };
  const sort = c.req.query(tableKey(named, 'sort'));
  const dir = c.req.query(tableKey(named, 'dir'));
  const sortable = columns.filter((column) => column.sortable).map((column) => column.key);
  const cursor = c.req.query(tableKey(named, 'cursor')) || null;
  if (sort !== undefined && !sortable.includes(sort)) return { ...defaults, cursor, ...named };
  return { sort: sort ?? defaults.sort, dir: dir === 'asc' || dir === 'desc' ? dir : defaults.dir, cursor, ...named };
}

/** The order to ask a list for: the table's sort when the list offers it (`sorts` by column key), else the default. */
export function listOrder<K extends string>(sorts: Record<K, unknown>, state: TableState, fallback: { by: K; dir: SortDirection }): { by: K; dir: SortDirection } {
  return Object.hasOwn(sorts, state.sort) ? { by: state.sort as K, dir: state.dir } : fallback;
}

/** A caption's words for the order shown: `defaultWords` ("newest first") in the default order, else the column and direction. */
export function orderWords<Row>(columns: Column<Row>[], state: TableState, defaults: { sort: string; dir: SortDirection; words: string }): string {
  if (state.sort === defaults.sort && state.dir === defaults.dir) return defaults.words;
  const column = columns.find((c) => c.key === state.sort);
  return column ? `by ${column.label.toLowerCase()}, ${state.dir === 'asc' ? 'ascending' : 'descending'}` : defaults.words;
}

/** Hidden fields that keep a table's chosen order when the filter form above it is sent. */
export function SortFields(props: { state: TableState; defaults: { sort: string; dir: SortDirection } }) {
  if (props.state.sort === props.defaults.sort && props.state.dir === props.defaults.dir) return null;
  return (
    <>
      <input type="hidden" name={tableKey(props.state, 'sort')} value={props.state.sort} />
      <input type="hidden" name={tableKey(props.state, 'dir')} value={props.state.dir} />
    </>
  );
}

/** The current URL (at `path`, when given) with some query parameters replaced (undefined removes one). */
export function withQuery(c: Context, changes: Record<string, string | undefined>, path?: string): string {
  const url = new URL(c.req.url);
  if (path !== undefined) url.pathname = path;
  // A one-time notice ("Member removed.") belongs to the answer it came with, not to later links.
  url.searchParams.delete('done');
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) url.searchParams.delete(key);
    else url.searchParams.set(key, value);
  }
  const query = url.searchParams.toString();
  return `${url.pathname}${query ? `?${query}` : ''}`;
}

export interface DataTableProps<Row> {
  c: Context;
  caption: string;
  columns: Column<Row>[];
  rows: Row[];
  state: TableState;
  nextCursor: string | null;
  /** Shown instead of an empty table: what to do next. */
  empty: Child;
  /** Offer CSV and JSON downloads of this table (same filters, every page). */
  exportable?: boolean;
  /** The page's own path for its links, when this answer is to a form posted elsewhere. */
  path?: string;
}

/**
 * A table with sortable headers, a next-page link and exports; the server does the sorting and
 * paging. A named table (TableState.name) keeps its own query keys, and its sort and page links
 * lead back to it on the page (`#<name>-table`).
 */
export function DataTable<Row>(props: DataTableProps<Row>) {
  const { c, state } = props;
  if (props.rows.length === 0 && state.cursor === null) return <div class="empty-state">{props.empty}</div>;
  const id = state.name === undefined ? undefined : `${state.name}-table`;
  const link = (changes: Record<string, string | undefined>) => `${withQuery(c, changes, props.path)}${id === undefined ? '' : `#${id}`}`;
  const sortKey = tableKey(state, 'sort');
  const dirKey = tableKey(state, 'dir');
  const cursorKey = tableKey(state, 'cursor');
  const exportable = props.exportable !== false;
  const download = (format: 'csv' | 'json') => withQuery(c, { format, table: state.name, [cursorKey]: undefined }, props.path);
  return (
    <div class="data-table" id={id}>
      <table>
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((column) => {
              const active = state.sort === column.key;
              const next: SortDirection = active && state.dir === 'desc' ? 'asc' : 'desc';
              return (
                <th scope="col" class={column.numeric ? 'num' : undefined} aria-sort={active ? (state.dir === 'asc' ? 'ascending' : 'descending') : undefined}>
                  {column.sortable ? (
                    <a href={link({ [sortKey]: column.key, [dirKey]: next, [cursorKey]: undefined })}>
                      {column.label}
                      {active ? <span aria-hidden="true">{state.dir === 'asc' ? ' ▲' : ' ▼'}</span> : null}
                    </a>
                  ) : (
                    column.label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((row) => (
            <tr>
              {props.columns.map((column) => {
                const content = column.render ? column.render(row) : String(column.value(row) ?? '—');
                return column.rowHeader ? (
                  <th scope="row" class={column.numeric ? 'num' : undefined}>
                    {content}
                  </th>
                ) : (
                  <td class={column.numeric ? 'num' : undefined}>{content}</td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      {state.cursor !== null || props.nextCursor !== null || exportable ? (
        <nav class="table-nav" aria-label={`${props.caption}: pages and downloads`}>
          {state.cursor !== null ? <a href={link({ [cursorKey]: undefined })}>First page</a> : null}
          {props.nextCursor !== null ? <a href={link({ [cursorKey]: props.nextCursor })}>Next page</a> : null}
          {exportable ? (
            <>
              <a href={download('csv')} download>
                Download CSV
              </a>
              <a href={download('json')} download>
                Download JSON
              </a>
            </>
          ) : null}
        </nav>
      ) : null}
    </div>
  );
}

/** A CSV cell: quoted when needed, and spreadsheet formulas neutralised (data comes from strangers). */
export function csvCell(value: string | number | boolean | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The rows of a table as a CSV or JSON download. */
export function tableDownload<Row>(c: Context, filename: string, format: 'csv' | 'json', columns: Column<Row>[], rows: Row[]): Response {
  const safeName = filename.replace(/[^A-Za-z0-9._-]+/g, '-');
  if (format === 'json') {
    const body = JSON.stringify(rows.map((row) => Object.fromEntries(columns.map((column) => [column.key, column.value(row)]))), null, 2);
    return c.body(body, 200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Disposition': `attachment; filename="${safeName}.json"` });
  }
  const lines = [columns.map((column) => csvCell(column.label)).join(','), ...rows.map((row) => columns.map((column) => csvCell(column.value(row))).join(','))];
  return c.body(`${lines.join('\r\n')}\r\n`, 200, { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="${safeName}.csv"` });
}

/** The export format asked for, if any. */
export function downloadFormat(c: Context): 'csv' | 'json' | null {
  const format = c.req.query('format');
  return format === 'csv' || format === 'json' ? format : null;
}

/** The named table (TableState.name) a download asks for, or null for a page's unnamed table. */
export function downloadTable(c: Context): string | null {
  return c.req.query('table') ?? null;
}

/** Sorts a table that is small enough to hold whole (nulls last either way). */
export function sortRows<Row>(rows: Row[], columns: Column<Row>[], state: TableState): Row[] {
  const column = columns.find((c) => c.key === state.sort);
  if (!column) return rows;
  const sign = state.dir === 'asc' ? 1 : -1;
  const key = column.sortKey ?? column.value;
  return [...rows].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
    if (typeof x === 'number' && typeof y === 'number') return (x - y) * sign;
    return String(x).localeCompare(String(y)) * sign;
  });
}
