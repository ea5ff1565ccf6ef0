import { Hono, type Context } from 'hono';
import type { Kysely } from 'kysely';
import { ApiError } from '../api/errors.js';
import { toPage } from '../api/pagination.js';
import { roleAllows } from '../auth/roles.js';
import type { Config } from '../config.js';
import { decodeSortCursor, sortCursorOf, type SortCursor } from '../db/keyset.js';
import type { DB } from '../db/schema.js';
import type { WebEnv } from '../http/env.js';
import type { Logger } from '../lib/logger.js';
import { listMailboxes } from '../mailboxes/manage.js';
import { KIND_LABELS, dateTime, reportHref } from '../reports/pages.js';
import { reportKindOf, type ReportKind as ReportKindName } from '../reports/queries/kinds.js';
import { reportsOfDocuments } from '../reports/queries/reports-of-documents.js';
import { MAX_UPLOAD_FILES } from '../reports/routes.js';
import { uploadReports, type UploadedReportDocument, type UploadedReports } from '../reports/upload-reports.js';
import { DataTable, downloadFormat, listOrder, orderWords, SortFields, tableDownload, tableState, type Column, type TableState } from '../web/components/data-table.js';
import { CsrfField } from '../web/layout.js';
import { orgSlugOf, renderOrgPage } from '../web/org-context.js';
import { INGEST_LOG_SORT, OUTCOMES, SOURCE_TYPES, listIngestLog, type IngestLogRow } from './routes.js';
import type { Outcome, ReportKind } from './types.js';

const LOG_PAGE = 50;
const DOWNLOAD_LIMIT = 10_000;
const ACCEPTED = '.xml,.gz,.zip,.eml,.json,.mbox,.txt,.msg,application/xml,application/json,application/gzip,application/zip,message/rfc822';

export const OUTCOME_WORDS: Record<Outcome, string> = {
  stored: 'Stored',
  duplicate: 'Already stored',
  refused: 'Refused',
  not_a_report: 'Not a report',
};

const SOURCE_TYPE_WORDS: Record<(typeof SOURCE_TYPES)[number], string> = { upload: 'Upload', file: 'File import', imap: 'IMAP mailbox', pop3: 'POP3 mailbox' };

function megabytes(bytes: number): string {
  return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MB`;
}

// ---- upload ----------------------------------------------------------------------------------

function UploadForm(props: { action: string; csrf: string | null; maxBytes: number; problem?: string }) {
  return (
    <form class="stack upload-form" method="post" action={props.action} enctype="multipart/form-data">
      <CsrfField token={props.csrf} />
      <label for="files">
        Report files
        <span class="hint" id="files-hint">
          Aggregate reports (.xml, or compressed as .gz or .zip), SMTP TLS reports (.json), failure reports and whole report mails (.eml, .mbox). Up to {MAX_UPLOAD_FILES} files and {megabytes(props.maxBytes)} in all. Anything else is looked at too, and said what it is.
        </span>
      </label>
      <input type="file" id="files" name="file" multiple required accept={ACCEPTED} aria-describedby="files-hint" aria-invalid={props.problem ? 'true' : undefined} />
      {props.problem ? (
        <p class="error" role="alert">
          {props.problem}
        </p>
      ) : null}
      <button type="submit">Upload</button>
    </form>
  );
}

function documentColumns(base: string): Column<UploadedReportDocument>[] {
  return [
    { key: 'item', label: 'Document', value: (doc) => doc.item },
    { key: 'kind', label: 'Kind', value: (doc) => (doc.kind === null ? null : KIND_LABELS[reportKindOf(doc.kind)]), render: (doc) => (doc.kind === null ? <span class="muted">unknown</span> : KIND_LABELS[reportKindOf(doc.kind)]) },
    { key: 'outcome', label: 'Outcome', value: (doc) => OUTCOME_WORDS[doc.outcome], render: (doc) => <span class={`outcome outcome-${doc.outcome}`}>{OUTCOME_WORDS[doc.outcome]}</span> },
    {
      key: 'words',
      label: 'In words',
      value: (doc) =>
        `${doc.outcome === 'stored' && doc.records > 0 && doc.kind === 'aggregate' ? `${doc.records} record${doc.records === 1 ? '' : 's'}. ` : ''}${doc.problem ?? (doc.outcome === 'stored' ? 'Read without problems.' : '')}`,
    },
    {
      key: 'report',
      label: 'Report',
      value: (doc) => doc.reportRef,
      render: (doc) =>
        doc.report ? <a href={reportHref(base, doc.report.kind, doc.report.id)}>{doc.reportRef ?? `Report #${doc.report.id}`}</a> : <span class="muted">{doc.reportRef ?? '—'}</span>,
    },
  ];
}

/**
 * The answer to an upload: one table per file, its documents in the order they were found. It
 * answers a POST, so it offers no sort or download links (each would be a new GET, without these
 * results); the ingest log sorts and downloads the same documents.
 */
function UploadResults(props: { c: Context<WebEnv>; base: string; uploaded: UploadedReports }) {
  const { totals } = props.uploaded;
  const parts = (Object.keys(OUTCOME_WORDS) as Outcome[]).filter((o) => totals[o] > 0).map((o) => `${totals[o]} ${OUTCOME_WORDS[o].toLowerCase()}`);
  const tone = totals.refused > 0 ? 'bad' : totals.stored > 0 ? 'good' : 'warn';
  const columns = documentColumns(props.base);
  return (
    <>
      <p class={`verdict ${tone}`} role="status">
        {parts.length === 0 ? 'Nothing was found in these files.' : `Documents found: ${parts.join(', ')}.`}
        {totals.duplicate > 0 ? ' Reports already stored are counted once.' : ''}
      </p>
      {props.uploaded.files.map((file) => (
        <DataTable
          c={props.c}
          caption={`${file.name} (${file.size.toLocaleString('en')} bytes)`}
          columns={columns}
          rows={file.documents}
          state={UPLOAD_ORDER}
          nextCursor={null}
          exportable={false}
          empty={<p>Nothing was found in {file.name}. Check that you chose the report file, or the mail it came in, and upload it again.</p>}
        />
      ))}
      <p>
        <a href={`${props.base}/reports`}>See all reports</a> · <a href={`${props.base}/upload`}>Upload more</a> · <a href={`${props.base}/ingest-log?sourceType=upload`}>Uploads in the ingest log</a>
      </p>
    </>
  );
}

const UPLOAD_ORDER: TableState = { sort: '', dir: 'asc', cursor: null };

// ---- ingest log ------------------------------------------------------------------------------

type LogRow = IngestLogRow;
const LOG_DEFAULT = { sort: 'seen', dir: 'desc', words: 'newest first' } as const;

/** Where a document came from, in words: `upload:<hash>:<name>`, `file:<path>`, `imap:<mailbox id>:…`, `pop3:<mailbox id>:…`. */
function sourceWords(source: string, mailboxes: Map<number, string>): string {
  const colon = source.indexOf(':');
  const type = source.slice(0, colon);
  const rest = source.slice(colon + 1);
  if (type === 'upload') return `Upload of ${rest.slice(rest.indexOf(':') + 1)}`;
  if (type === 'file') return `File ${rest}`;
  if (type === 'imap' || type === 'pop3') {
    const id = Number(rest.split(':')[0]);
    const name = mailboxes.get(id);
    return `${type === 'imap' ? 'IMAP' : 'POP3'} mailbox ${name ?? `#${id} (removed)`}`;
  }
  return source;
}

type ReportLinks = Map<string, { kind: ReportKindName; id: number }>;

const hexOf = (sha256: Uint8Array | null) => (sha256 === null ? null : Buffer.from(sha256).toString('hex'));

function logColumns(base: string, mailboxes: Map<number, string>, reports: ReportLinks): Column<LogRow>[] {
  const reportOf = (r: LogRow) => {
    const hex = hexOf(r.sha256);
    return hex === null ? undefined : reports.get(hex);
  };
  return [
    { key: 'seen', sortable: true, label: 'First seen', value: (r) => new Date(r.first_seen_at).toISOString(), render: (r) => dateTime(new Date(r.first_seen_at)) },
    { key: 'outcome', sortable: true, label: 'Outcome', value: (r) => r.outcome, render: (r) => <span class={`outcome outcome-${r.outcome}`}>{OUTCOME_WORDS[r.outcome as Outcome] ?? r.outcome}</span> },
    { key: 'kind', sortable: true, label: 'Kind', value: (r) => (r.kind === null ? null : reportKindOf(r.kind as ReportKind)), render: (r) => (r.kind === null ? <span class="muted">unknown</span> : KIND_LABELS[reportKindOf(r.kind as ReportKind)]) },
    { key: 'reason', sortable: true, label: 'Reason', value: (r) => r.problem, render: (r) => r.problem ?? <span class="muted">{r.outcome === 'stored' ? 'read without problems' : '—'}</span> },
    { key: 'source', sortable: true, label: 'Source', value: (r) => r.source, render: (r) => sourceWords(r.source, mailboxes) },
    { key: 'item', sortable: true, label: 'Item', value: (r) => r.item },
    {
      key: 'report',
      label: 'Report',
      sortable: true,
      value: (r) => r.report_ref,
      render: (r) => {
        const report = reportOf(r);
        if (report) return <a href={reportHref(base, report.kind, report.id)}>{r.report_ref ?? `Report #${report.id}`}</a>;
        return r.report_ref ?? <span class="muted">—</span>;
      },
    },
    { key: 'lastSeen', sortable: true, label: 'Last seen', value: (r) => new Date(r.last_seen_at).toISOString(), render: (r) => dateTime(new Date(r.last_seen_at)) },
  ];
}

function LogFilters(props: { action: string; outcome: string; sourceType: string; state: TableState }) {
  return (
    <form class="filters" method="get" action={props.action} aria-label="Filter the ingest log">
      <SortFields state={props.state} defaults={LOG_DEFAULT} />
      <div>
        <label for="l-outcome">Outcome</label>
        <select id="l-outcome" name="outcome">
          <option value="" selected={props.outcome === ''}>
            Any outcome
          </option>
          {OUTCOMES.map((o) => (
            <option value={o} selected={props.outcome === o}>
              {OUTCOME_WORDS[o]}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label for="l-source">Source</label>
        <select id="l-source" name="sourceType">
          <option value="" selected={props.sourceType === ''}>
            Any source
          </option>
          {SOURCE_TYPES.map((t) => (
            <option value={t} selected={props.sourceType === t}>
              {SOURCE_TYPE_WORDS[t]}
            </option>
          ))}
        </select>
      </div>
      <div class="filters-actions">
        <button type="submit">Filter</button> <a href={props.action}>Clear filters</a>
      </div>
    </form>
  );
}

/** The stored report of each row's document, to link to. */
async function reportLinks(db: Kysely<DB>, orgId: number, rows: LogRow[]): Promise<ReportLinks> {
  return reportsOfDocuments(db, orgId, rows.filter((r) => r.outcome === 'stored' || r.outcome === 'duplicate').map((r) => hexOf(r.sha256)).filter((h) => h !== null));
}

/** Names of the organisation's mailboxes, only when some row came from one. */
async function mailboxNames(db: Kysely<DB>, orgId: number, rows: LogRow[]): Promise<Map<number, string>> {
  if (!rows.some((r) => r.source.startsWith('imap:') || r.source.startsWith('pop3:'))) return new Map();
  return new Map((await listMailboxes(db, orgId)).map((m) => [m.id, m.name]));
}

/** The upload page (form and results) and the ingest log. */
export function ingestPages(deps: { db: Kysely<DB>; config: Pick<Config, 'limits' | 'keepFailureHeaders'>; logger: Logger }): Hono<WebEnv> {
  const { db, config, logger } = deps;
  const app = new Hono<WebEnv>();
  const base = (c: Context<WebEnv>) => `/o/${encodeURIComponent(orgSlugOf(c))}`;

  const viewerPage = (c: Context<WebEnv>, status: 200 | 403) =>
    renderOrgPage(
      c,
      db,
      'Upload reports',
      'upload',
      <>
        <h1>Upload reports</h1>
        <p class="notice" role="status">
          You can read this organisation's reports but not add to them: your role is viewer. Ask an owner or an admin to make you a member, or to upload the files for you.
        </p>
        <p>
          <a href={`${base(c)}/reports`}>See the reports</a>
        </p>
      </>,
      status,
    );

  const formPage = (c: Context<WebEnv>, problem?: string) =>
    renderOrgPage(
      c,
      db,
      'Upload reports',
      'upload',
      <>
        <h1>Upload reports</h1>
        <p>Add reports you already have: they go through the same checks as reports read from a mailbox, and a report uploaded twice is stored once.</p>
        <UploadForm action={`${base(c)}/upload`} csrf={c.get('csrfToken')} maxBytes={config.limits.maxMailBytes} {...(problem ? { problem } : {})} />
      </>,
      problem ? 400 : 200,
    );

  app.get('/o/:org/upload', (c) => (roleAllows(c.get('org').role, 'write') ? formPage(c) : viewerPage(c, 200)));

  app.post('/o/:org/upload', async (c) => {
    const org = c.get('org');
    const caller = c.get('caller');
    if (!roleAllows(org.role, 'write') || caller.kind !== 'user') return viewerPage(c, 403);
    let form: FormData;
    try {
      form = await c.req.formData();
    } catch {
      return formPage(c, 'The files could not be read from the form. Choose them again and send the form once more.');
    }
    const parts = form.getAll('file').flatMap((part) => (typeof part !== 'string' && (part.size > 0 || part.name !== '') ? [part] : []));
    if (parts.length === 0) return formPage(c, 'Choose at least one file to upload.');
    if (parts.length > MAX_UPLOAD_FILES) return formPage(c, `Choose at most ${MAX_UPLOAD_FILES} files at a time.`);
    const files = await Promise.all(parts.map(async (part) => ({ name: part.name, bytes: new Uint8Array(await part.arrayBuffer()) })));
    const uploaded = await uploadReports({ db, orgId: org.orgId, limits: config.limits, keepFailureHeaders: config.keepFailureHeaders, logger }, files, {
      actor: { type: 'user', id: caller.userId },
      ip: c.get('client').ip,
    });
    return renderOrgPage(
      c,
      db,
      'Upload results',
      'upload',
      <>
        <h1>Upload results</h1>
        <UploadResults c={c} base={base(c)} uploaded={uploaded} />
      </>,
    );
  });

  app.get('/o/:org/ingest-log', async (c) => {
    const org = c.get('org');
    const outcome = c.req.query('outcome') ?? '';
    const sourceType = c.req.query('sourceType') ?? '';
    const filter = {
      ...((OUTCOMES as readonly string[]).includes(outcome) ? { outcome: outcome as Outcome } : {}),
      ...((SOURCE_TYPES as readonly string[]).includes(sourceType) ? { sourceType: sourceType as (typeof SOURCE_TYPES)[number] } : {}),
    };
    const filtered = Object.keys(filter).length > 0;
    const state = tableState(c, logColumns(base(c), new Map(), new Map()), LOG_DEFAULT);
    const order = listOrder(INGEST_LOG_SORT, state, { by: LOG_DEFAULT.sort, dir: LOG_DEFAULT.dir });
    const format = downloadFormat(c);
    if (format) {
      const rows = await listIngestLog(db, org.orgId, filter, { limit: DOWNLOAD_LIMIT, after: null, order });
      return tableDownload(c, `ingest-log-${new Date().toISOString().slice(0, 10)}`, format, logColumns(base(c), await mailboxNames(db, org.orgId, rows), new Map()), rows);
    }
    let after: SortCursor | null;
    try {
      after = decodeSortCursor(c.req.query('cursor'), INGEST_LOG_SORT[order.by]);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      return renderOrgPage(c, db, 'Ingest log', 'ingest', <p>This page link is out of date. <a href={c.req.path}>Start again from the first page.</a></p>, 400);
    }
    const rows = await listIngestLog(db, org.orgId, filter, { limit: LOG_PAGE + 1, after, order });
    const page = toPage(rows, LOG_PAGE, (r) => sortCursorOf(INGEST_LOG_SORT[order.by], r, r.id), (r) => r);
    const [mailboxes, reports] = await Promise.all([mailboxNames(db, org.orgId, page.items), reportLinks(db, org.orgId, page.items)]);
    const columns = logColumns(base(c), mailboxes, reports);
    return renderOrgPage(
      c,
      db,
      'Ingest log',
      'ingest',
      <>
        <h1>Ingest log</h1>
        <p>Every document DMARC Watch has looked at, from mailboxes, uploads and imports, with what became of it. A document offered again by the same source keeps its row; only its last-seen time moves.</p>
        <LogFilters action={`${base(c)}/ingest-log`} outcome={outcome} sourceType={sourceType} state={state} />
        <DataTable
          c={c}
          caption={`Documents, ${orderWords(columns, state, LOG_DEFAULT)}${filtered ? ' (filtered)' : ''}`}
          columns={columns}
          rows={page.items}
          state={state}
          nextCursor={page.nextCursor}
          empty={
            filtered ? (
              <p>
                No documents match these filters. <a href={`${base(c)}/ingest-log`}>Clear the filters</a>.
              </p>
            ) : (
              <>
                <h2>Nothing read yet</h2>
                <p>
                  Documents appear here as soon as they are read: <a href={`${base(c)}/mailboxes`}>connect a mailbox</a> that receives reports, or{' '}
                  <a href={`${base(c)}/upload`}>upload report files</a>.
                </p>
              </>
            )
          }
        />
      </>,
    );
  });

  return app;
}
