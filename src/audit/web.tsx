import { Hono, type Context } from 'hono';
import type { Kysely } from 'kysely';
import { ApiError } from '../api/errors.js';
import { toPage } from '../api/pagination.js';
import { roleAllows } from '../auth/roles.js';
import { decodeSortCursor, sortCursorOf, type SortCursor } from '../db/keyset.js';
import type { DB } from '../db/schema.js';
import type { WebEnv } from '../http/env.js';
import { DataTable, downloadFormat, listOrder, orderWords, SortFields, tableDownload, tableState, type Column } from '../web/components/data-table.js';
import { orgSlugOf, renderOrgPage } from '../web/org-context.js';
import { AUDIT_SORT, auditPage, auditTargetText, type AuditEventRow } from './routes.js';

type C = Context<WebEnv>;
type EventRow = AuditEventRow;

const PAGE = 50;
const DOWNLOAD_LIMIT = 10_000;
const AUDIT_DEFAULT = { sort: 'seq', dir: 'desc', words: 'newest first' } as const;
const SUMMARY_CHARS = 240;

/** The addresses of the people among the actors of a page of events (people who have since gone keep their id). */
async function actorEmails(db: Kysely<DB>, rows: EventRow[]): Promise<Map<string, string>> {
  const ids = [...new Set(rows.filter((r) => r.actor_type === 'user' && r.actor_id !== null && /^\d{1,15}$/.test(r.actor_id)).map((r) => Number(r.actor_id)))];
  if (ids.length === 0) return new Map();
  const users = await db.selectFrom('user_account').select(['id', 'email']).where('id', 'in', ids).execute();
  return new Map(users.map((u) => [String(u.id), u.email]));
}

function actorWords(row: EventRow, emails: Map<string, string>): string {
  if (row.actor_type === 'user') return row.actor_id === null ? 'a person' : (emails.get(row.actor_id) ?? `person #${row.actor_id} (account deleted)`);
  if (row.actor_type === 'api_key') return `API key #${row.actor_id ?? '?'}`;
  return `DMARC Watch${row.actor_id ? ` (${row.actor_id})` : ''}`;
}

function summaryText(summary: unknown): string {
  const text = summary === null || summary === undefined ? '' : JSON.stringify(summary);
  if (text === '{}') return '';
  return text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS)}…` : text;
}

function columns(emails: Map<string, string>): Column<EventRow>[] {
  return [
    { key: 'seq', label: '#', sortable: true, numeric: true, value: (r) => Number(r.seq) },
    { key: 'time', label: 'Time', sortable: true, value: (r) => new Date(r.created_at).toISOString(), render: (r) => `${new Date(r.created_at).toISOString().slice(0, 19).replace('T', ' ')} UTC` },
    { key: 'actor', label: 'Actor', value: (r) => actorWords(r, emails) },
    { key: 'action', label: 'Action', sortable: true, value: (r) => r.action, render: (r) => <code>{r.action}</code> },
    { key: 'target', label: 'Target', sortable: true, value: auditTargetText },
    { key: 'summary', label: 'Summary', value: (r) => summaryText(r.summary), render: (r) => <code class="audit-summary">{summaryText(r.summary)}</code> },
    { key: 'ip', label: 'IP', sortable: true, value: (r) => r.ip },
  ];
}

/** The organisation's audit trail (admins): newest first, by pages, with the JSON-lines export for SIEMs. */
export function auditPages(deps: { db: Kysely<DB> }): Hono<WebEnv> {
  const { db } = deps;
  const app = new Hono<WebEnv>();

  app.get('/o/:org/audit', async (c: C) => {
    const org = c.get('org');
    const slug = encodeURIComponent(orgSlugOf(c));
    const base = `/o/${slug}`;
    if (!roleAllows(org.role, 'admin')) {
      return renderOrgPage(
        c,
        db,
        'Audit log',
        'audit',
        <>
          <h1>Audit log</h1>
          <p class="error" role="alert">
            The audit log is for admins and owners. Your role here is {org.role}.
          </p>
        </>,
        403,
      );
    }
    const action = (c.req.query('action') ?? '').trim();
    const validAction = action.length > 0 && action.length <= 100 ? action : undefined;
    const filter = validAction ? { action: validAction } : {};
    const state = tableState(c, columns(new Map()), AUDIT_DEFAULT);
    const order = listOrder(AUDIT_SORT, state, { by: AUDIT_DEFAULT.sort, dir: AUDIT_DEFAULT.dir });
    const format = downloadFormat(c);
    if (format) {
      const rows = await auditPage(db, org.orgId, filter, { limit: DOWNLOAD_LIMIT, after: null, order });
      return tableDownload(c, `audit-log-${new Date().toISOString().slice(0, 10)}`, format, columns(await actorEmails(db, rows)), rows);
    }
    let after: SortCursor | null;
    try {
      after = decodeSortCursor(c.req.query('cursor'), AUDIT_SORT[order.by]);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      return c.redirect(`${base}/audit`, 303);
    }
    const rows = await auditPage(db, org.orgId, filter, { limit: PAGE + 1, after, order });
    const page = toPage(rows, PAGE, (r) => sortCursorOf(AUDIT_SORT[order.by], r, Number(r.seq)), (r) => r);
    const cols = columns(await actorEmails(db, page.items));
    const exportUrl = `/api/v1/orgs/${slug}/audit-log/export`;
    return renderOrgPage(
      c,
      db,
      'Audit log',
      'audit',
      <>
        <h1>Audit log</h1>
        <p>
          Every change to this organisation — members, invitations, keys, mailboxes, domains, uploads — with who made it, from where, and a summary of before and after
          (never secrets). Each event is chained to the one before it by a hash, so an edited, removed or reordered event is detected.
        </p>
        <form class="filters" method="get" action={`${base}/audit`} aria-label="Filter the audit log">
          <SortFields state={state} defaults={AUDIT_DEFAULT} />
          <div>
            <label for="a-action">Action</label>
            <input type="text" id="a-action" name="action" value={action} maxlength={100} placeholder="e.g. member.role_change" aria-describedby="a-action-hint" />
            <span class="hint" id="a-action-hint">
              The exact action name, as shown in the table.
            </span>
          </div>
          <div class="filters-actions">
            <button type="submit">Filter</button> <a href={`${base}/audit`}>Clear filter</a>
          </div>
        </form>
        <DataTable
          c={c}
          caption={`Events, ${orderWords(cols, state, AUDIT_DEFAULT)}${validAction ? ` (action ${validAction})` : ''}`}
          columns={cols}
          rows={page.items}
          state={state}
          nextCursor={page.nextCursor}
          empty={validAction ? <p>No event has the action “{validAction}”. <a href={`${base}/audit`}>Show every event</a>.</p> : <p>No events yet: changes to the organisation appear here as they happen.</p>}
        />
        <h2>Export and verify</h2>
        <p>
          <a href={exportUrl} download>
            Download JSON lines
          </a>{' '}
          — the whole trail, oldest first, one event per line with its hashes, as your SIEM reads it. Programs fetch the same from <code>GET {exportUrl}</code> with an
          admin API key, resuming with <code>?after=</code> the last <code>seq</code> received.
        </p>
        <p>
          To check that nothing was changed, run <code>dmarcwatch audit verify</code> on the server: it re-computes every hash and names the first event that does not
          match.
        </p>
      </>,
    );
  });

  return app;
}
