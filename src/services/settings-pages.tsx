import { Hono, type Context } from 'hono';
import type { Child } from 'hono/jsx';
import type { Kysely } from 'kysely';
import { roleAllows } from '../auth/roles.js';
import type { DB } from '../db/schema.js';
import type { ServiceCategory } from '../enrich/services.js';
import type { WebEnv } from '../http/env.js';
import { Done, Problem, SettingsNav, when } from '../orgs/pages.js';
import { DataTable, type Column } from '../web/components/data-table.js';
import { SelectField, TextAreaField, TextField } from '../web/components/text-field.js';
import { CsrfField } from '../web/layout.js';
import { orgSlugOf, renderOrgPage } from '../web/org-context.js';
import { CATEGORY_WORDS, catalogueEntry, SERVICE_ID } from './definition.js';
import { deleteServiceEntry, getServiceEntry, listServiceEntries, MAX_SERVICE_ENTRIES, saveServiceEntry, ServiceEntryError, type OwnServiceEntry, type SaveMode } from './entries.js';
import { checkEntryForm, EMPTY_ENTRY_FORM, entryFormValues, formOfEntry, type EntryFormValues, type EntryProblems } from './entry-form.js';
import { servicePath, serviceSettingsPath } from './paths.js';

type C = Context<WebEnv>;

const DONE_WORDS: Record<string, string> = {
  created: 'Entry added: sources are named by it from now on.',
  saved: 'Entry saved: sources are named by its new rules from now on.',
  deleted: 'Entry deleted. Decisions about the service stay until you undo them.',
};

const CATEGORY_OPTIONS = (Object.entries(CATEGORY_WORDS) as Array<[ServiceCategory, string]>).map(([value, words]) => [value, words] as const);

const base = (c: C) => `/o/${encodeURIComponent(orgSlugOf(c))}`;

function rulesText(own: OwnServiceEntry): string {
  const e = own.entry;
  return [
    e.ptr?.length ? `PTR ${e.ptr.join(', ')}` : null,
    e.asns?.length ? e.asns.map((n) => `AS${n}`).join(', ') : null,
    e.dkim?.length ? `DKIM ${e.dkim.join(', ')}` : null,
    e.forwards ? 'forwards mail' : null,
  ]
    .filter((x) => x !== null)
    .join(' · ');
}

/** The add / edit form; on edit the id is fixed (decisions refer to it). */
function EntryForm(props: { action: string; csrf: string | null; values: EntryFormValues; problems: EntryProblems; mode: 'create' | 'update' }) {
  const { values, problems } = props;
  return (
    <form class="stack wide-form" method="post" action={props.action}>
      <CsrfField token={props.csrf} />
      {props.mode === 'create' ? (
        <TextField
          id="s-id"
          name="id"
          label="Id"
          hint="Lower-case letters, digits and dashes; it cannot change later. The id of a catalogue entry adds an entry that wins its ties."
          value={values.id}
          problem={problems.id}
          maxlength={63}
        />
      ) : null}
      <TextField id="s-name" name="name" label="Name" hint="As it is shown on the pages." value={values.name} problem={problems.name} maxlength={120} />
      <SelectField id="s-category" name="category" label="Kind" value={values.category} options={CATEGORY_OPTIONS} placeholder="Choose…" problem={problems.category} />
      <TextAreaField
        id="s-ptr"
        name="ptr"
        label="Reverse-DNS names (PTR)"
        hint="One per line. relay.example.net matches that name and every name under it; * matches within one label (relay-*.example.net), ** any labels."
        value={values.ptr}
        problem={problems.ptr}
      />
      <TextAreaField id="s-asns" name="asns" label="Networks (ASN)" hint="One per line (64500 or AS64500), only networks that carry this service alone." value={values.asns} problem={problems.asns} rows={2} />
      <TextAreaField id="s-dkim" name="dkim" label="DKIM signing domains" hint="One per line: d= domains it signs with (each covers its subdomains)." value={values.dkim} problem={problems.dkim} />
      <div class="field-check">
        <input type="checkbox" id="s-forwards" name="forwards" checked={values.forwards} />
        <label for="s-forwards">It forwards mail or runs mailing lists</label>
      </div>
      <TextAreaField id="s-notes" name="notes" label="Notes (optional)" value={values.notes} problem={problems.notes} rows={2} maxlength={500} />
      <button type="submit">{props.mode === 'create' ? 'Add the entry' : 'Save the entry'}</button>
    </form>
  );
}

/** Settings → Sending services: the organisation's own service entries; admins add, edit and delete them. */
export function serviceSettingsPages(deps: { db: Kysely<DB>; clock: () => Date }): Hono<WebEnv> {
  const { db } = deps;
  const app = new Hono<WebEnv>();
  const isAdmin = (c: C) => roleAllows(c.get('org').role, 'admin');

  const page = (c: C, title: string, content: Child, status: 200 | 400 | 403 | 404 | 409 = 200) =>
    renderOrgPage(
      c,
      db,
      title,
      'settings',
      <>
        <h1>Settings</h1>
        <SettingsNav base={base(c)} tab="services" isAdmin={isAdmin(c)} />
        {content}
      </>,
      status,
    );

  const refuse = (c: C) =>
    page(c, 'Not allowed', <Problem text={`Changing service entries needs the admin role. Your role here is ${c.get('org').role}: ask an owner or an admin.`} />, 403);

  const change = (c: C) => {
    const caller = c.get('caller');
    return { orgId: c.get('org').orgId, actor: caller.kind === 'user' ? { type: 'user' as const, id: caller.userId } : { type: 'system' as const }, ip: c.get('client').ip, now: deps.clock() };
  };

  const listPage = async (c: C, form: { values?: EntryFormValues; problems?: EntryProblems; problem?: string } = {}, status: 200 | 400 | 409 = 200) => {
    const entries = await listServiceEntries(db, c.get('org').orgId, { limit: MAX_SERVICE_ENTRIES, after: null });
    const admin = isAdmin(c);
    const columns: Column<OwnServiceEntry>[] = [
      { key: 'id', label: 'Id', value: (r) => r.entry.id, render: (r) => <code>{r.entry.id}</code> },
      { key: 'name', label: 'Name', value: (r) => r.entry.name, render: (r) => <a href={servicePath(base(c), r.entry.id)}>{r.entry.name}</a> },
      { key: 'category', label: 'Kind', value: (r) => CATEGORY_WORDS[r.entry.category] },
      { key: 'rules', label: 'Rules', value: rulesText },
      { key: 'updated', label: 'Changed', value: (r) => when(r.updatedAt) },
      ...(admin
        ? [
            {
              key: 'actions',
              label: 'Actions',
              value: () => '',
              render: (r: OwnServiceEntry) => (
                <>
                  <a href={serviceSettingsPath(base(c), r.entry.id)}>Edit</a>{' '}
                  <form method="post" action={`${serviceSettingsPath(base(c), r.entry.id)}/delete`} class="inline-form">
                    <CsrfField token={c.get('csrfToken')} />
                    <button type="submit" class="danger" aria-label={`Delete the entry ${r.entry.name}`}>
                      Delete
                    </button>
                  </form>
                </>
              ),
            },
          ]
        : []),
    ];
    const done = c.req.query('done');
    return page(
      c,
      'Sending services',
      <>
        <h2>Sending services</h2>
        <Done text={done === undefined ? undefined : DONE_WORDS[done]} />
        <p>
          Your own entries name the services behind sending addresses, before the built-in catalogue: a relay of your CRM, a newsletter tool the catalogue does not
          know. Sources are named by them as soon as they are saved. At most {MAX_SERVICE_ENTRIES} entries.
        </p>
        <DataTable
          c={c}
          caption="Your organisation's service entries"
          columns={columns}
          rows={entries}
          state={{ sort: '', dir: 'asc', cursor: null }}
          nextCursor={null}
          exportable={false}
          empty={<p>No entries of your own yet: sources are named by the built-in catalogue only.</p>}
        />
        {admin ? (
          <section aria-labelledby="add-entry">
            <h2 id="add-entry">Add an entry</h2>
            <Problem text={form.problem} />
            <EntryForm action={serviceSettingsPath(base(c))} csrf={c.get('csrfToken')} values={form.values ?? EMPTY_ENTRY_FORM} problems={form.problems ?? {}} mode="create" />
          </section>
        ) : (
          <p class="muted">Only admins can add, change or delete entries.</p>
        )}
      </>,
      status,
    );
  };

  const editPage = async (c: C, id: string, form: { values?: EntryFormValues; problems?: EntryProblems } = {}, status: 200 | 400 = 200) => {
    const own = SERVICE_ID.test(id) ? await getServiceEntry(db, c.get('org').orgId, id) : null;
    if (own === null) return page(c, 'Not found', <Problem text="This organisation has no service entry with that id." />, 404);
    return page(
      c,
      `Edit ${own.entry.name}`,
      <>
        <h2>
          Edit <code>{own.entry.id}</code>
        </h2>
        <p>
          <a href={serviceSettingsPath(base(c))}>All entries</a> · <a href={servicePath(base(c), id)}>The service's page</a>
          {catalogueEntry(id) ? ' · The built-in catalogue has an entry with this id too; yours wins its ties.' : ''}
        </p>
        <EntryForm action={serviceSettingsPath(base(c), id)} csrf={c.get('csrfToken')} values={form.values ?? formOfEntry(own.entry)} problems={form.problems ?? {}} mode="update" />
      </>,
      status,
    );
  };

  async function save(c: C, mode: SaveMode, values: EntryFormValues) {
    const checked = checkEntryForm(values);
    const again = (problems: EntryProblems, status: 400 | 409) => (mode === 'create' ? listPage(c, { values, problems }, status) : editPage(c, values.id, { values, problems }, 400));
    if ('problems' in checked) return again(checked.problems, 400);
    try {
      await saveServiceEntry(db, change(c), checked.entry, mode);
    } catch (error) {
      if (!(error instanceof ServiceEntryError)) throw error;
      if (error.reason === 'exists') return again({ id: error.message }, 409);
      if (error.reason === 'no_rule') return again({ ptr: error.message }, 400);
      if (error.reason === 'too_many') return listPage(c, { values, problem: error.message }, 409);
      return page(c, 'Not found', <Problem text={error.message} />, 404);
    }
    return c.redirect(`${serviceSettingsPath(base(c))}?done=${mode === 'create' ? 'created' : 'saved'}`, 303);
  }

  app.get('/o/:org/settings/services', (c) => listPage(c));

  app.post('/o/:org/settings/services', async (c) => {
    if (!isAdmin(c)) return refuse(c);
    return save(c, 'create', entryFormValues(await c.req.parseBody()));
  });

  app.get('/o/:org/settings/services/:id', (c) => (isAdmin(c) ? editPage(c, c.req.param('id')) : refuse(c)));

  app.post('/o/:org/settings/services/:id', async (c) => {
    if (!isAdmin(c)) return refuse(c);
    const id = c.req.param('id');
    if (!SERVICE_ID.test(id)) return page(c, 'Not found', <Problem text="This organisation has no service entry with that id." />, 404);
    return save(c, 'update', { ...entryFormValues(await c.req.parseBody()), id });
  });

  app.post('/o/:org/settings/services/:id/delete', async (c) => {
    if (!isAdmin(c)) return refuse(c);
    const id = c.req.param('id');
    const removed = SERVICE_ID.test(id) && (await deleteServiceEntry(db, change(c), id));
    if (!removed) return page(c, 'Not found', <Problem text="This organisation has no service entry with that id." />, 404);
    return c.redirect(`${serviceSettingsPath(base(c))}?done=deleted`, 303);
  });

  return app;
}
