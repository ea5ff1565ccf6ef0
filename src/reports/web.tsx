import { Hono, type Context } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { ApiError } from '../api/errors.js';
import { decodeCursor, toPage, type CursorKey } from '../api/pagination.js';
import type { DB } from '../db/schema.js';
import type { WebEnv } from '../http/env.js';
import { decodeSortCursor, sortCursorOf, type SortCursor } from '../db/keyset.js';
import { DataTable, downloadFormat, listOrder, tableDownload, tableState } from '../web/components/data-table.js';
import { orgSlugOf, renderOrgPage } from '../web/org-context.js';
import { AggregateReportView, FailureReportView, NoReports, RawDocument, RECORDS_DEFAULT, ReportFilters, TlsReportView, recordColumns, reportListColumns, type ReportListForm } from './pages.js';
import { aggregateRecords, aggregateReport, RECORD_SORT, type AggregateRecordDetail } from './queries/aggregate-report.js';
import { failureReport } from './queries/failure-report.js';
import { REPORT_KINDS, type ReportKind } from './queries/kinds.js';
import { listReports, type ReportListFilter, type ReportListKey } from './queries/list-reports.js';
import { rawReportDocument } from './queries/raw-document.js';
import type { ReportSummary } from './queries/report-summaries.js';
import { tlsReport } from './queries/tls-report.js';
import { rawPreview, type RawPreview } from './raw-preview.js';

const LIST_PAGE = 50;
const RECORDS_PAGE = 100;
/** Most rows a CSV/JSON download holds. */
const DOWNLOAD_LIMIT = 10_000;
const RECORDS_DOWNLOAD_LIMIT = 100_000;
const DAY_MS = 86_400_000;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

const listCursor = z.tuple([z.iso.datetime(), z.enum(REPORT_KINDS), z.number().int()]);

class BadCursor extends Error {}

/** The key in a page link's cursor; BadCursor when the link is not one of ours (or out of date). */
function cursorOf<T extends z.ZodType<CursorKey>>(c: Context, shape: T): z.infer<T> | null {
  try {
    return decodeCursor(c.req.query('cursor'), shape);
  } catch (error) {
    if (error instanceof ApiError) throw new BadCursor();
    throw error;
  }
}

function listForm(c: Context): ReportListForm {
  const text = (name: string) => (c.req.query(name) ?? '').trim();
  return { kind: text('kind'), domain: text('domain'), reporter: text('reporter'), from: text('from'), to: text('to'), failures: c.req.query('failures') === 'true' };
}

function dayStart(value: string): Date | null {
  if (!DAY.test(value)) return null;
  const date = new Date(`${value}T00:00:00Z`);
  return Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== value ? null : date;
}

/** The list filter the form asks for, or what is wrong with it in words. */
function filterOf(form: ReportListForm): { filter: ReportListFilter } | { problem: string } {
  const filter: ReportListFilter = {};
  if (form.kind !== '') {
    if (!(REPORT_KINDS as readonly string[]).includes(form.kind)) return { problem: 'Choose a kind of report from the list.' };
    filter.kind = form.kind as ReportKind;
  }
  if (form.domain.length > 253) return { problem: 'A domain name has at most 253 characters.' };
  if (form.domain !== '') filter.domain = form.domain;
  if (form.reporter.length > 255) return { problem: "A reporter's name has at most 255 characters." };
  if (form.reporter !== '') filter.reporter = form.reporter;
  if (form.from !== '') {
    const from = dayStart(form.from);
    if (!from) return { problem: 'Give the start of the period as a date (YYYY-MM-DD).' };
    filter.from = from;
  }
  if (form.to !== '') {
    const to = dayStart(form.to);
    if (!to) return { problem: 'Give the end of the period as a date (YYYY-MM-DD).' };
    filter.to = new Date(to.getTime() + DAY_MS);
  }
  if (filter.from && filter.to && filter.from >= filter.to) return { problem: 'The start of the period must not come after its end.' };
  if (form.failures) filter.failures = true;
  return { filter };
}

function reportId(c: Context): number | null {
  const raw = c.req.param('id') ?? '';
  return /^[1-9]\d{0,14}$/.test(raw) ? Number(raw) : null;
}

async function previewOf(db: Kysely<DB>, orgId: number, kind: ReportKind, id: number): Promise<RawPreview | null> {
  const doc = await rawReportDocument(db, orgId, kind, id);
  if (!doc || doc.contentGzip === null) return null;
  return rawPreview(doc.contentGzip, doc.size);
}

/** TLS reports are often one long line: indent them for reading (the download stays byte for byte). */
function indentJson(preview: RawPreview): RawPreview {
  if (preview.truncated) return preview;
  try {
    return { text: JSON.stringify(JSON.parse(preview.text), null, 2), truncated: false };
  } catch {
    return preview;
  }
}

/** The report list, the aggregate, TLS and failure report views. */
export function reportPages(deps: { db: Kysely<DB> }): Hono<WebEnv> {
  const { db } = deps;
  const app = new Hono<WebEnv>();

  const base = (c: Context<WebEnv>) => `/o/${encodeURIComponent(orgSlugOf(c))}`;
  const rawHref = (c: Context<WebEnv>, kind: ReportKind, id: number) => `/api/v1/orgs/${encodeURIComponent(orgSlugOf(c))}/reports/${kind}/${id}/raw`;
  const badLink = (c: Context<WebEnv>) =>
    renderOrgPage(
      c,
      db,
      'Page link out of date',
      'reports',
      <>
        <h1>This page link is out of date</h1>
        <p>
          Start again from the <a href={c.req.path}>first page</a>.
        </p>
      </>,
      400,
    );
  const notFound = (c: Context<WebEnv>) =>
    renderOrgPage(
      c,
      db,
      'Report not found',
      'reports',
      <>
        <h1>Report not found</h1>
        <p>This organisation has no such report. It may have been deleted, or the link belongs to another organisation.</p>
        <p>
          <a href={`${base(c)}/reports`}>All reports</a>
        </p>
      </>,
      404,
    );

  app.get('/o/:org/reports', async (c) => {
    const org = c.get('org');
    const form = listForm(c);
    const parsed = filterOf(form);
    const columns = reportListColumns(base(c));
    const state = tableState(c, columns, { sort: 'period', dir: 'desc' });
    const direction = state.dir;
    const filtered = form.kind !== '' || form.domain !== '' || form.reporter !== '' || form.from !== '' || form.to !== '' || form.failures;

    if ('problem' in parsed) {
      return renderOrgPage(
        c,
        db,
        'Reports',
        'reports',
        <>
          <h1>Reports</h1>
          <ReportFilters action={`${base(c)}/reports`} form={form} problem={parsed.problem} />
        </>,
        400,
      );
    }

    const format = downloadFormat(c);
    if (format) {
      const all: ReportSummary[] = [];
      let after: ReportListKey | null = null;
      while (all.length < DOWNLOAD_LIMIT) {
        const rows = await listReports(db, org.orgId, parsed.filter, { limit: Math.min(1000, DOWNLOAD_LIMIT - all.length), after, direction });
        all.push(...rows);
        const last = rows[rows.length - 1];
        if (rows.length < 1000 || !last) break;
        after = { at: last.at, kind: last.kind, id: last.id };
      }
      return tableDownload(c, `reports-${new Date().toISOString().slice(0, 10)}`, format, columns, all);
    }

    let cursor;
    try {
      cursor = cursorOf(c, listCursor);
    } catch (error) {
      if (error instanceof BadCursor) return badLink(c);
      throw error;
    }
    const listed = await listReports(db, org.orgId, parsed.filter, {
      limit: LIST_PAGE + 1,
      after: cursor ? { at: new Date(cursor[0]), kind: cursor[1], id: cursor[2] } : null,
      direction,
    });
    const page = toPage(listed, LIST_PAGE, (r) => [r.at.toISOString(), r.kind, r.id], (r) => r);
    const rows = page.items;

    return renderOrgPage(
      c,
      db,
      'Reports',
      'reports',
      <>
        <h1>Reports</h1>
        <ReportFilters action={`${base(c)}/reports`} form={form} />
        <DataTable
          c={c}
          caption={`Reports, ${direction === 'desc' ? 'newest' : 'oldest'} period first${filtered ? ' (filtered)' : ''}`}
          columns={columns}
          rows={rows}
          state={state}
          nextCursor={page.nextCursor}
          empty={<NoReports base={base(c)} filtered={filtered} />}
        />
      </>,
    );
  });

  app.get('/o/:org/reports/aggregate/:id', async (c) => {
    const org = c.get('org');
    const id = reportId(c);
    const report = id === null ? undefined : await aggregateReport(db, org.orgId, id);
    if (!report) return notFound(c);
    const columns = recordColumns(report.policy);
    const state = tableState(c, columns, RECORDS_DEFAULT);
    const order = listOrder(RECORD_SORT, state, { by: RECORDS_DEFAULT.sort, dir: RECORDS_DEFAULT.dir });
    const format = downloadFormat(c);
    if (format) {
      const records = await aggregateRecords(db, org.orgId, report.id, { limit: RECORDS_DOWNLOAD_LIMIT, after: null, order });
      return tableDownload(c, `records-${report.reporter}-${report.reportId}`, format, columns, records);
    }
    let cursor: SortCursor | null;
    try {
      cursor = decodeSortCursor(c.req.query('cursor'), RECORD_SORT[order.by]);
    } catch (error) {
      if (error instanceof ApiError) return badLink(c);
      throw error;
    }
    const [records, preview] = await Promise.all([
      aggregateRecords(db, org.orgId, report.id, { limit: RECORDS_PAGE + 1, after: cursor, order }),
      previewOf(db, org.orgId, 'aggregate', report.id),
    ]);
    const page = toPage(records, RECORDS_PAGE, (r: AggregateRecordDetail) => sortCursorOf(RECORD_SORT[order.by], r, r.ordinal), (r) => r);
    return renderOrgPage(
      c,
      db,
      `Aggregate report ${report.reportId}`,
      'reports',
      <AggregateReportView
        c={c}
        base={base(c)}
        report={report}
        records={page.items}
        recordsState={state}
        nextCursor={page.nextCursor}
        complete={cursor === null && page.nextCursor === null}
        raw={<RawDocument title="The report as received (XML)" preview={preview} downloadHref={rawHref(c, 'aggregate', report.id)} />}
      />,
    );
  });

  app.get('/o/:org/reports/tls/:id', async (c) => {
    const org = c.get('org');
    const id = reportId(c);
    const report = id === null ? undefined : await tlsReport(db, org.orgId, id);
    if (!report) return notFound(c);
    const preview = await previewOf(db, org.orgId, 'tls', report.id);
    return renderOrgPage(
      c,
      db,
      `TLS report ${report.reportId}`,
      'reports',
      <TlsReportView
        c={c}
        base={base(c)}
        report={report}
        raw={
          <RawDocument
            title="The report as received (JSON)"
            preview={preview ? indentJson(preview) : null}
            downloadHref={rawHref(c, 'tls', report.id)}
            note="indented here for reading; the download is byte for byte"
          />
        }
      />,
    );
  });

  app.get('/o/:org/reports/failure/:id', async (c) => {
    const org = c.get('org');
    const id = reportId(c);
    const report = id === null ? undefined : await failureReport(db, org.orgId, id);
    if (!report) return notFound(c);
    return renderOrgPage(c, db, `Failure report ${report.id}`, 'reports', <FailureReportView base={base(c)} report={report} />);
  });

  return app;
}
