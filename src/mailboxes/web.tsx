import { Hono, type Context } from 'hono';
import type { Kysely } from 'kysely';
import { roleAllows, type Permission } from '../auth/roles.js';
import type { DB } from '../db/schema.js';
import type { WebEnv } from '../http/env.js';
import type { Keyring } from '../lib/crypto/index.js';
import { DataTable, downloadFormat, sortRows, tableDownload, tableState, type Column } from '../web/components/data-table.js';
import { CsrfField } from '../web/layout.js';
import { orgSlugOf, renderOrgPage } from '../web/org-context.js';
import { testMailboxConnection, type ConnectionVerdict } from './check-connection.js';
import { createMailbox, deleteMailbox, editMailbox, MailboxStateError, pauseMailbox, pollMailboxSoon, resumeMailbox, type MailboxChangeBy } from './mailbox-changes.js';
import type { MailboxChanges } from './mailbox-input.js';
import { findMailbox, listMailboxes, MailboxInputError, MailboxNotFoundError, viewMailbox, type MailboxView } from './manage.js';
import {
  AddMailboxForm,
  ConnectionResult,
  EditMailboxForm,
  formOfMailbox,
  MailboxActions,
  NoMailboxes,
  problemsInWords,
  SECRET_FIELDS,
  STATUS_WORDS,
  StatusBadge,
  statusAdvice,
  when,
  type MailboxForm,
} from './pages.js';

type C = Context<WebEnv>;

const DONE_WORDS: Record<string, string> = {
  created: 'Mailbox added. Test the connection to check the settings; the first poll follows within a few minutes.',
  saved: 'Changes saved.',
  paused: 'Paused: the mailbox is not polled until you resume it.',
  resumed: 'Resumed: the mailbox is polled again.',
  polling: 'Poll requested: the mailbox is read within about a minute. Reload this page to see the outcome.',
  deleted: 'Mailbox removed, with its stored credentials. Reports already read from it stay.',
};

const base = (c: C) => `/o/${encodeURIComponent(orgSlugOf(c))}`;

function changeBy(c: C): MailboxChangeBy {
  const caller = c.get('caller');
  return { orgId: c.get('org').orgId, actor: caller.kind === 'user' ? { type: 'user', id: caller.userId } : { type: 'system', id: 'web' }, ip: c.get('client').ip };
}

/** The form's text fields (files and empty values left out). */
async function formOf(c: C): Promise<MailboxForm> {
  const body = await c.req.parseBody();
  const form: MailboxForm = {};
  for (const [key, value] of Object.entries(body)) {
    if (typeof value === 'string' && key !== '_csrf') form[key] = value;
  }
  return form;
}

/** The form without its secrets: what may be shown again when it comes back with a problem. */
function withoutSecrets(form: MailboxForm): MailboxForm {
  const shown = { ...form };
  for (const field of SECRET_FIELDS) delete shown[field];
  return shown;
}

/** The add form as the use case's input: empty fields left to their defaults, only the chosen sign-in method's fields. */
function newMailboxInput(form: MailboxForm): Record<string, string> {
  const oauth = form.authMethod === 'oauth2';
  const fields = ['name', 'protocol', 'host', 'port', 'tlsMode', 'caPem', 'username', 'authMethod', 'folder', 'afterProcessing', 'processedFolder', 'invalidFolder', 'pollIntervalMinutes'];
  fields.push(...(oauth ? ['oauthProvider', 'oauthTokenUrl', 'oauthClientId', 'oauthClientSecret', 'oauthScope', 'oauthRefreshToken'] : ['password']));
  const input: Record<string, string> = {};
  for (const field of fields) {
    const value = form[field];
    if (value !== undefined && value.trim() !== '') input[field] = value;
  }
  if (!oauth) input.authMethod = 'password';
  if (!oauth && input.password === undefined) input.password = '';
  return input;
}

/** The edit form as changes: only fields that differ from the mailbox now (a folder sent unchanged would be read again from the start). */
function mailboxChanges(form: MailboxForm, view: MailboxView): MailboxChanges {
  const current = formOfMailbox(view);
  const changes: Record<string, unknown> = {};
  for (const field of Object.keys(current)) {
    const value = (form[field] ?? '').trim();
    if (value === '' && field === 'port') continue;
    if (value !== current[field]) changes[field] = value;
  }
  if (form.removeCa === '1') changes.caPem = null;
  else if ((form.caPem ?? '').trim() !== '') changes.caPem = form.caPem;
  if ((form.password ?? '') !== '') changes.password = form.password;
  return changes as MailboxChanges;
}

const serverOf = (m: MailboxView) => `${m.protocol.toUpperCase()} ${m.username}@${m.host}:${m.port}`;

function mailboxColumns(c: C, canWrite: boolean): Column<MailboxView>[] {
  const path = (m: MailboxView) => `${base(c)}/mailboxes/${m.id}`;
  const columns: Column<MailboxView>[] = [
    {
      key: 'name',
      label: 'Mailbox',
      sortable: true,
      value: (m) => m.name,
      render: (m) => (
        <>
          <a href={path(m)}>{m.name}</a>
          <span class="hint">{serverOf(m)}</span>
        </>
      ),
    },
    // In downloads only: the page shows it under the name.
    { key: 'server', label: 'Server', value: serverOf },
    {
      key: 'status',
      label: 'Status',
      sortable: true,
      value: (m) => STATUS_WORDS[statusAdvice(m).status],
      render: (m) => {
        const advice = statusAdvice(m);
        return (
          <>
            <StatusBadge status={advice.status} />
            <span class="status-text">{advice.text}</span>
            {advice.todo ? <span class="hint">{advice.todo}</span> : null}
          </>
        );
      },
    },
    { key: 'lastPoll', label: 'Last poll', sortable: true, value: (m) => (m.lastPollFinishedAt ? new Date(m.lastPollFinishedAt).toISOString() : null), render: (m) => when(m.lastPollFinishedAt) },
    { key: 'outcome', label: 'Outcome', sortable: true, value: (m) => (m.lastOutcome === null ? 'not polled yet' : m.lastOutcome === 'error' ? 'failed' : 'worked') },
    { key: 'processed', label: 'Messages processed', sortable: true, numeric: true, value: (m) => m.messagesProcessed, render: (m) => m.messagesProcessed.toLocaleString('en') },
    { key: 'reports', label: 'Reports stored', sortable: true, numeric: true, value: (m) => m.reportsStored, render: (m) => m.reportsStored.toLocaleString('en') },
  ];
  if (canWrite) columns.push({ key: 'actions', label: 'Actions', value: () => null, render: (m) => <MailboxActions base={base(c)} view={m} csrf={c.get('csrfToken')} compact /> });
  return columns;
}

function Done(props: { c: C }) {
  const done = props.c.req.query('done');
  const text = done === undefined ? undefined : DONE_WORDS[done];
  return text ? (
    <p class="notice ok" role="status">
      {text}
    </p>
  ) : null;
}

/** The mailboxes list, add form, mailbox page (status, actions, edit form) and delete confirmation. */
export function mailboxPages(deps: { db: Kysely<DB>; keyring: Keyring }): Hono<WebEnv> {
  const { db, keyring } = deps;
  const app = new Hono<WebEnv>();

  const refuse = (c: C, needs: Permission) =>
    renderOrgPage(
      c,
      db,
      'Not allowed',
      'mailboxes',
      <>
        <h1>Not allowed</h1>
        <p class="error" role="alert">
          {needs === 'admin' ? 'Removing a mailbox needs the admin role.' : 'Changing mailboxes needs the member role or higher.'} Your role here is {c.get('org').role}: ask an owner
          or an admin.
        </p>
        <p>
          <a href={`${base(c)}/mailboxes`}>Back to the mailboxes</a>
        </p>
      </>,
      403,
    );
  const allowed = (c: C, needs: Permission) => roleAllows(c.get('org').role, needs);

  /** The mailbox of the path in this organisation, or null (unknown ids and other organisations' alike). */
  const mailboxOf = async (c: C): Promise<MailboxView | null> => {
    const id = c.req.param('id') ?? '';
    if (!/^\d{1,15}$/.test(id)) return null;
    try {
      return viewMailbox(await findMailbox(db, c.get('org').orgId, Number(id)));
    } catch (error) {
      if (error instanceof MailboxNotFoundError) return null;
      throw error;
    }
  };
  const notFound = (c: C) =>
    renderOrgPage(
      c,
      db,
      'No such mailbox',
      'mailboxes',
      <>
        <h1>No such mailbox</h1>
        <p>It may have been removed.</p>
        <p>
          <a href={`${base(c)}/mailboxes`}>Back to the mailboxes</a>
        </p>
      </>,
      404,
    );

  app.get('/o/:org/mailboxes', async (c) => {
    const canWrite = allowed(c, 'write');
    // An organisation's mailboxes are few: listed whole and sorted here.
    const mailboxes = await listMailboxes(db, c.get('org').orgId);
    const columns = mailboxColumns(c, canWrite);
    const state = tableState(c, columns, { sort: 'name', dir: 'asc' });
    const rows = sortRows(mailboxes, columns, state);
    const format = downloadFormat(c);
    if (format) return tableDownload(c, 'mailboxes', format, columns.filter((column) => column.key !== 'actions'), rows);
    return renderOrgPage(
      c,
      db,
      'Mailboxes',
      'mailboxes',
      <>
        <h1>Mailboxes</h1>
        <Done c={c} />
        <p>The mailboxes DMARC Watch reads reports from. Each is polled on its own schedule; what it read is in the <a href={`${base(c)}/ingest-log`}>ingest log</a>.</p>
        {canWrite && mailboxes.length > 0 ? (
          <p>
            <a class="button-link" href={`${base(c)}/mailboxes/new`}>
              Add mailbox
            </a>
          </p>
        ) : null}
        <DataTable c={c} caption="Mailboxes" columns={columns.filter((column) => column.key !== 'server')} rows={rows} state={state} nextCursor={null} empty={<NoMailboxes base={base(c)} canWrite={canWrite} />} />
      </>,
    );
  });

  const addPage = (c: C, values: MailboxForm, problem?: string) => {
    const { fields, lines } = problem ? problemsInWords(problem) : { fields: new Set<string>(), lines: [] };
    return renderOrgPage(
      c,
      db,
      'Add a mailbox',
      'mailboxes',
      <>
        <p>
          <a href={`${base(c)}/mailboxes`}>Mailboxes</a> ›
        </p>
        <h1>Add a mailbox</h1>
        <p>The mailbox that receives your DMARC reports (the address in your record's rua= tag). DMARC Watch only reads it, and moves or marks what it has read as you choose below.</p>
        <AddMailboxForm action={`${base(c)}/mailboxes`} csrf={c.get('csrfToken')} values={values} problems={lines} invalid={fields} />
      </>,
      problem ? 400 : 200,
    );
  };

  app.get('/o/:org/mailboxes/new', (c) => (allowed(c, 'write') ? addPage(c, {}) : refuse(c, 'write')));

  app.post('/o/:org/mailboxes', async (c) => {
    if (!allowed(c, 'write')) return refuse(c, 'write');
    const form = await formOf(c);
    try {
      const row = await createMailbox(db, keyring, changeBy(c), newMailboxInput(form));
      return c.redirect(`${base(c)}/mailboxes/${row.id}?done=created`, 303);
    } catch (error) {
      if (error instanceof MailboxInputError) return addPage(c, withoutSecrets(form), error.message);
      throw error;
    }
  });

  const mailboxPage = async (c: C, view: MailboxView, options: { verdict?: ConnectionVerdict; form?: MailboxForm; problem?: string } = {}) => {
    const canWrite = allowed(c, 'write');
    const advice = statusAdvice(view);
    const { fields, lines } = options.problem ? problemsInWords(options.problem) : { fields: new Set<string>(), lines: [] };
    const path = `${base(c)}/mailboxes/${view.id}`;
    return renderOrgPage(
      c,
      db,
      view.name,
      'mailboxes',
      <>
        <p>
          <a href={`${base(c)}/mailboxes`}>Mailboxes</a> ›
        </p>
        <h1>{view.name}</h1>
        <Done c={c} />
        {options.verdict ? <ConnectionResult verdict={options.verdict} /> : null}
        <div class={`verdict ${advice.status === 'ok' ? 'good' : advice.status === 'failing' || advice.status === 'needs_reauth' ? 'bad' : 'warn'}`}>
          <p>
            <StatusBadge status={advice.status} /> {advice.text}
          </p>
          {advice.todo ? <p>{advice.todo}</p> : null}
        </div>
        <dl class="fields">
          <dt>Server</dt>
          <dd>
            {view.protocol.toUpperCase()} {view.host}:{view.port}, {view.tlsMode === 'implicit' ? 'TLS from the start' : 'STARTTLS'}
            {view.customCa ? ', private CA' : ''}
          </dd>
          <dt>User name</dt>
          <dd>{view.username}</dd>
          <dt>Sign-in</dt>
          <dd>{view.authMethod === 'password' ? (view.hasPassword ? 'Password (stored encrypted, never shown)' : 'Password (none stored)') : `OAuth 2.0 (${view.oauthProvider ?? 'custom'})`}</dd>
          <dt>Folder</dt>
          <dd>{view.protocol === 'pop3' ? 'The POP3 inbox' : view.folder}</dd>
          <dt>Last poll</dt>
          <dd>{view.lastPollFinishedAt ? `${when(view.lastPollFinishedAt)}, ${view.lastOutcome === 'error' ? 'failed' : 'worked'}` : 'not polled yet'}</dd>
          <dt>Next poll</dt>
          <dd>{view.paused ? 'paused' : view.needsReauth ? 'stopped until the credentials are updated' : when(view.nextPollAt)}</dd>
          <dt>Read so far</dt>
          <dd>
            {view.messagesProcessed.toLocaleString('en')} messages, {view.reportsStored.toLocaleString('en')} reports stored, {view.messagesInvalid.toLocaleString('en')} not a report
          </dd>
        </dl>
        {canWrite ? (
          <>
            <h2>Actions</h2>
            <MailboxActions base={base(c)} view={view} csrf={c.get('csrfToken')} />
            <h2>Change settings</h2>
            <EditMailboxForm action={path} csrf={c.get('csrfToken')} view={view} values={options.form ?? formOfMailbox(view)} problems={lines} invalid={fields} />
          </>
        ) : (
          <p class="muted">Your role here is viewer: you can see this mailbox but not change it.</p>
        )}
        {allowed(c, 'admin') ? (
          <section class="danger-zone" aria-labelledby="remove-mailbox">
            <h2 id="remove-mailbox">Remove this mailbox</h2>
            <p>DMARC Watch stops reading it and forgets its credentials. Reports already read from it stay.</p>
            <p>
              <a href={`${path}/delete`}>Remove {view.name}…</a>
            </p>
          </section>
        ) : null}
      </>,
      options.problem ? 400 : 200,
    );
  };

  app.get('/o/:org/mailboxes/:id', async (c) => {
    const view = await mailboxOf(c);
    return view ? mailboxPage(c, view) : notFound(c);
  });

  app.post('/o/:org/mailboxes/:id', async (c) => {
    if (!allowed(c, 'write')) return refuse(c, 'write');
    const view = await mailboxOf(c);
    if (!view) return notFound(c);
    const form = await formOf(c);
    const changes = mailboxChanges(form, view);
    try {
      await editMailbox(db, keyring, changeBy(c), view.id, changes);
      return c.redirect(`${base(c)}/mailboxes/${view.id}?done=saved`, 303);
    } catch (error) {
      if (error instanceof MailboxInputError) return mailboxPage(c, view, { form: withoutSecrets(form), problem: error.message });
      if (error instanceof MailboxNotFoundError) return notFound(c);
      throw error;
    }
  });

  app.post('/o/:org/mailboxes/:id/test', async (c) => {
    if (!allowed(c, 'write')) return refuse(c, 'write');
    const id = c.req.param('id');
    if (!/^\d{1,15}$/.test(id)) return notFound(c);
    let row;
    try {
      row = await findMailbox(db, c.get('org').orgId, Number(id));
    } catch (error) {
      if (error instanceof MailboxNotFoundError) return notFound(c);
      throw error;
    }
    const verdict = await testMailboxConnection(db, keyring, row);
    return mailboxPage(c, viewMailbox(row), { verdict });
  });

  const actions = { poll: [pollMailboxSoon, 'polling'], pause: [pauseMailbox, 'paused'], resume: [resumeMailbox, 'resumed'] } as const;
  for (const [action, [run, done]] of Object.entries(actions)) {
    app.post(`/o/:org/mailboxes/:id/${action}`, async (c) => {
      if (!allowed(c, 'write')) return refuse(c, 'write');
      const view = await mailboxOf(c);
      if (!view) return notFound(c);
      try {
        await run(db, changeBy(c), view.id);
      } catch (error) {
        if (error instanceof MailboxNotFoundError) return notFound(c);
        if (!(error instanceof MailboxStateError)) throw error;
        return renderOrgPage(
          c,
          db,
          view.name,
          'mailboxes',
          <>
            <h1>{view.name}</h1>
            <p class="error" role="alert">
              {error.message}
            </p>
            <p>
              <a href={`${base(c)}/mailboxes/${view.id}`}>Back to the mailbox</a>
            </p>
          </>,
          409,
        );
      }
      const back = c.req.query('from') === 'list' ? `${base(c)}/mailboxes?done=${done}` : `${base(c)}/mailboxes/${view.id}?done=${done}`;
      return c.redirect(back, 303);
    });
  }

  app.get('/o/:org/mailboxes/:id/delete', async (c) => {
    if (!allowed(c, 'admin')) return refuse(c, 'admin');
    const view = await mailboxOf(c);
    if (!view) return notFound(c);
    return renderOrgPage(
      c,
      db,
      `Remove ${view.name}`,
      'mailboxes',
      <>
        <p>
          <a href={`${base(c)}/mailboxes/${view.id}`}>{view.name}</a> ›
        </p>
        <h1>Remove {view.name}?</h1>
        <p>
          DMARC Watch stops reading {view.username}@{view.host} and deletes the stored credentials. Reports already read from it stay, and nothing in the mailbox itself is
          touched. This cannot be undone: to read it again, add it again.
        </p>
        <form method="post" action={`${base(c)}/mailboxes/${view.id}/delete`} class="stack">
          <CsrfField token={c.get('csrfToken')} />
          <button type="submit" class="danger">
            Remove mailbox
          </button>
        </form>
        <p>
          <a href={`${base(c)}/mailboxes/${view.id}`}>Cancel</a>
        </p>
      </>,
    );
  });

  app.post('/o/:org/mailboxes/:id/delete', async (c) => {
    if (!allowed(c, 'admin')) return refuse(c, 'admin');
    const view = await mailboxOf(c);
    if (!view) return notFound(c);
    try {
      await deleteMailbox(db, changeBy(c), view.id);
    } catch (error) {
      if (error instanceof MailboxNotFoundError) return notFound(c);
      throw error;
    }
    return c.redirect(`${base(c)}/mailboxes?done=deleted`, 303);
  });

  return app;
}
