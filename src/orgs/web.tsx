import { Hono, type Context } from 'hono';
import type { Child } from 'hono/jsx';
import type { Kysely } from 'kysely';
import { ApiError } from '../api/errors.js';
import { toPage } from '../api/pagination.js';
import { apiKeySort, createApiKey, listApiKeys, revokeApiKey, type ApiKeySummary } from '../auth/api-keys.js';
import { INVITATION_SORT, inviteMember, listPendingInvitations, revokeInvitation, type InvitationSummary } from '../auth/invitations.js';
import { roleAllows, type ApiScope, type Permission, type Role } from '../auth/roles.js';
import { normalizeEmail } from '../auth/users.js';
import type { AuditInput } from '../audit/types.js';
import type { Config } from '../config.js';
import { decodeSortCursor, sortCursorOf, type SortCursor, type SortKey } from '../db/keyset.js';
import type { DB } from '../db/schema.js';
import type { WebEnv } from '../http/env.js';
import type { Mailer } from '../mail/mailer.js';
import { DataTable, downloadFormat, listOrder, orderWords, tableDownload, tableState, type Column } from '../web/components/data-table.js';
import { orgSlugOf, renderOrgPage } from '../web/org-context.js';
import { DEFAULT_ORG_SLUG } from './default-org.js';
import { deleteOrganization } from './delete-organization.js';
import { changeMemberRole, listMembers, MEMBER_SORT, removeMember, type Member } from './members.js';
import { getOrganization, renameOrganization } from './organizations.js';
import {
  ApiKeyForm,
  DangerZone,
  DeleteOrganizationForm,
  Done,
  InviteForm,
  MemberActions,
  NewApiKey,
  Problem,
  RenameForm,
  RevokeApiKey,
  RevokeInvitation,
  ROLES,
  SettingsNav,
  when,
  type SettingsTab,
} from './pages.js';
import { organizationName } from './routes.js';
import { OrgRuleError } from './rule-error.js';

type C = Context<WebEnv>;

const PAGE = 50;
const DOWNLOAD_LIMIT = 10_000;
const RULE_STATUS = { not_found: 404, forbidden: 403, conflict: 409 } as const;
const MEMBERS_DEFAULT = { sort: 'email', dir: 'asc', words: 'by address' } as const;
const INVITATIONS_DEFAULT = { sort: 'sent', dir: 'desc', words: 'newest first' } as const;
const KEYS_DEFAULT = { sort: 'created', dir: 'desc', words: 'newest first' } as const;

const DONE_WORDS: Record<string, string> = {
  renamed: 'The organisation has a new name.',
  role: 'Role changed.',
  removed: 'Member removed.',
  invited: 'Invitation sent. It works for 14 days, once, and only for that address.',
  'invited-unmailed': 'The invitation was created but the mail could not be sent. Invite the address again to retry.',
  revoked: 'Invitation revoked: its link no longer works.',
  'key-revoked': 'API key revoked: it stops working at once.',
};

export interface OrgPagesDeps {
  db: Kysely<DB>;
  mailer: Mailer;
  config: Pick<Config, 'publicUrl'>;
  clock: () => Date;
}

const base = (c: C) => `/o/${encodeURIComponent(orgSlugOf(c))}`;

function me(c: C): { userId: number; email: string } {
  const caller = c.get('caller');
  if (caller.kind !== 'user') throw new Error('requireOrgMember must run before this handler');
  return { userId: caller.userId, email: caller.email };
}

function actorOf(c: C): { actor: AuditInput['actor']; ip: string | null } {
  return { actor: { type: 'user', id: me(c).userId }, ip: c.get('client').ip };
}

async function field(c: C, name: string): Promise<string> {
  const value = (await c.req.parseBody())[name];
  return typeof value === 'string' ? value : '';
}

/** A positive integer id from the path, or null. */
function idParam(c: C, name: string): number | null {
  const value = c.req.param(name) ?? '';
  return /^\d{1,15}$/.test(value) && Number(value) > 0 ? Number(value) : null;
}

/** The organisation settings: name, members, invitations, API keys and deletion. */
export function organizationPages(deps: OrgPagesDeps): Hono<WebEnv> {
  const { db } = deps;
  const app = new Hono<WebEnv>();

  const allowed = (c: C, needs: Permission) => roleAllows(c.get('org').role, needs);
  const isAdmin = (c: C) => allowed(c, 'admin');

  const page = (c: C, tab: SettingsTab, title: string, content: Child, status: 200 | 400 | 403 | 404 | 409 = 200) =>
    renderOrgPage(
      c,
      db,
      title,
      'settings',
      <>
        <h1>Settings</h1>
        <SettingsNav base={base(c)} tab={tab} isAdmin={isAdmin(c)} />
        {content}
      </>,
      status,
    );

  const refuse = (c: C, tab: SettingsTab, text: string) =>
    page(
      c,
      tab,
      'Not allowed',
      <>
        <h2>Not allowed</h2>
        <Problem text={`${text} Your role here is ${c.get('org').role}: ask an owner or an admin.`} />
      </>,
      403,
    );
  const adminOnly = (c: C, tab: SettingsTab) => refuse(c, tab, 'This needs the admin role.');
  const done = (c: C) => {
    const key = c.req.query('done');
    return key === undefined ? undefined : DONE_WORDS[key];
  };

  // ---- organisation ------------------------------------------------------------------------------

  const generalPage = async (c: C, options: { problem?: string; name?: string } = {}) => {
    const org = await getOrganization(db, c.get('org').orgId);
    if (!org) return page(c, 'general', 'Settings', <Problem text="This organisation no longer exists." />, 404);
    return page(
      c,
      'general',
      'Settings',
      <>
        <h2>Organisation</h2>
        <Done text={done(c)} />
        <Problem text={options.problem} />
        {isAdmin(c) ? (
          <RenameForm action={`${base(c)}/settings/name`} csrf={c.get('csrfToken')} name={options.name ?? org.name} invalid={options.problem !== undefined} />
        ) : (
          <p>
            <strong>{org.name}</strong> <span class="muted">(only an admin can rename it)</span>
          </p>
        )}
        <p class="muted">
          Created {when(org.createdAt)}. Its address on this instance is <code>{base(c)}</code>; your role here is {c.get('org').role}.
        </p>
        <h2>Your account</h2>
        <p>
          Your sign-in settings belong to you, not to the organisation: <a href="/settings/sessions">see where you are signed in</a> and{' '}
          <a href="/settings/security">set up two-factor sign-in</a>.
        </p>
        <DangerZone base={base(c)} role={c.get('org').role} isDefault={org.slug === DEFAULT_ORG_SLUG} />
      </>,
      options.problem ? 400 : 200,
    );
  };

  app.get('/o/:org/settings', (c) => generalPage(c));

  app.post('/o/:org/settings/name', async (c) => {
    if (!isAdmin(c)) return adminOnly(c, 'general');
    const raw = await field(c, 'name');
    const parsed = organizationName.safeParse(raw);
    if (!parsed.success) return generalPage(c, { problem: 'The name must be 1 to 100 characters, without line breaks or other control characters.', name: raw });
    await renameOrganization(db, { orgId: c.get('org').orgId, name: parsed.data, ...actorOf(c) });
    return c.redirect(`${base(c)}/settings?done=renamed`, 303);
  });

  // ---- members -----------------------------------------------------------------------------------

  const memberColumns = (c: C): Column<Member>[] => [
    { key: 'email', label: 'Member', sortable: true, value: (m) => m.email, render: (m) => (m.userId === me(c).userId ? <>{m.email} <span class="muted">(you)</span></> : m.email) },
    { key: 'role', label: 'Role', sortable: true, value: (m) => m.role },
    { key: 'joined', label: 'Joined', sortable: true, value: (m) => m.joinedAt.toISOString(), render: (m) => when(m.joinedAt) },
    { key: 'actions', label: 'Actions', value: () => null, render: (m) => <MemberActions base={base(c)} csrf={c.get('csrfToken')} member={m} me={{ userId: me(c).userId, role: c.get('org').role }} /> },
  ];

  const membersPage = async (c: C, options: { problem?: string; status?: 403 | 404 | 409 } = {}) => {
    const orgId = c.get('org').orgId;
    const columns = memberColumns(c);
    const state = tableState(c, columns, MEMBERS_DEFAULT);
    const order = listOrder(MEMBER_SORT, state, { by: MEMBERS_DEFAULT.sort, dir: MEMBERS_DEFAULT.dir });
    const format = downloadFormat(c);
    if (format) return tableDownload(c, 'members', format, columns.slice(0, 3), await listMembers(db, orgId, { limit: DOWNLOAD_LIMIT, after: null, order }));
    const after = cursorOf(c, MEMBER_SORT[order.by]);
    if (after === undefined) return staleCursor(c, 'members');
    const rows = await listMembers(db, orgId, { limit: PAGE + 1, after, order });
    const members = toPage(rows, PAGE, (m) => sortCursorOf(MEMBER_SORT[order.by], m, m.userId), (m) => m);
    return page(
      c,
      'members',
      'Members',
      <>
        <h2>Members</h2>
        <Done text={done(c)} />
        <Problem text={options.problem} />
        <p>
          Owners manage everything, including other owners and deleting the organisation; admins manage members, invitations and API keys; members change mailboxes, domains
          and reports; viewers read. Nobody gives a role above their own, and there is always an owner.
          {isAdmin(c) ? (
            <>
              {' '}
              <a href={`${base(c)}/settings/invitations`}>Invite someone</a>.
            </>
          ) : null}
        </p>
        <DataTable
          c={c}
          path={`${base(c)}/settings/members`}
          caption={`Members, ${orderWords(columns, state, MEMBERS_DEFAULT)}`}
          columns={columns}
          rows={members.items}
          state={state}
          nextCursor={members.nextCursor}
          empty={<p>No members.</p>}
        />
      </>,
      options.status ?? 200,
    );
  };

  app.get('/o/:org/settings/members', (c) => membersPage(c));

  /** Runs a member change; the rules' refusals come back on the members page in words. */
  const underRules = async (c: C, work: () => Promise<unknown>, doneKey: string, after?: string) => {
    try {
      await work();
    } catch (error) {
      if (error instanceof OrgRuleError) return membersPage(c, { problem: error.message, status: RULE_STATUS[error.kind] });
      throw error;
    }
    return c.redirect(after ?? `${base(c)}/settings/members?done=${doneKey}`, 303);
  };

  app.post('/o/:org/settings/members/:user/role', async (c) => {
    if (!isAdmin(c)) return adminOnly(c, 'members');
    const userId = idParam(c, 'user');
    const role = await field(c, 'role');
    if (userId === null) return membersPage(c, { problem: 'No such member.', status: 404 });
    if (!(ROLES as string[]).includes(role)) return membersPage(c, { problem: 'Choose one of the roles offered.', status: 409 });
    const { orgId, role: myRole } = c.get('org');
    return underRules(c, () => changeMemberRole(db, { orgId, userId, role: role as Role, by: { role: myRole, userId: me(c).userId }, ...actorOf(c) }), 'role');
  });

  app.post('/o/:org/settings/members/:user/remove', async (c) => {
    const userId = idParam(c, 'user');
    if (userId === null) return membersPage(c, { problem: 'No such member.', status: 404 });
    const leaving = userId === me(c).userId;
    // Anyone may leave (the rules keep the last owner); removing others needs an admin.
    if (!leaving && !isAdmin(c)) return adminOnly(c, 'members');
    const { orgId, role } = c.get('org');
    return underRules(c, () => removeMember(db, { orgId, userId, by: { role, userId: me(c).userId }, ...actorOf(c) }), 'removed', leaving ? '/' : undefined);
  });

  // ---- invitations -------------------------------------------------------------------------------

  const invitationColumns = (c: C): Column<InvitationSummary>[] => [
    { key: 'email', label: 'Address', sortable: true, value: (i) => i.email },
    { key: 'role', label: 'Role', sortable: true, value: (i) => i.role },
    { key: 'sent', label: 'Sent', sortable: true, value: (i) => i.createdAt.toISOString(), render: (i) => when(i.createdAt) },
    { key: 'expires', label: 'Expires', sortable: true, value: (i) => i.expiresAt.toISOString(), render: (i) => when(i.expiresAt) },
    { key: 'actions', label: 'Actions', value: () => null, render: (i) => <RevokeInvitation base={base(c)} csrf={c.get('csrfToken')} invitation={i} /> },
  ];

  const invitationsPage = async (c: C, options: { problem?: string; status?: 400 | 403 | 404 | 409; email?: string; role?: Role } = {}) => {
    const orgId = c.get('org').orgId;
    const now = deps.clock();
    const columns = invitationColumns(c);
    const state = tableState(c, columns, INVITATIONS_DEFAULT);
    const order = listOrder(INVITATION_SORT, state, { by: INVITATIONS_DEFAULT.sort, dir: INVITATIONS_DEFAULT.dir });
    const format = downloadFormat(c);
    if (format) return tableDownload(c, 'invitations', format, columns.slice(0, 4), await listPendingInvitations(db, orgId, { limit: DOWNLOAD_LIMIT, after: null, now, order }));
    const after = cursorOf(c, INVITATION_SORT[order.by]);
    if (after === undefined) return staleCursor(c, 'invitations');
    const rows = await listPendingInvitations(db, orgId, { limit: PAGE + 1, after, now, order });
    const pending = toPage(rows, PAGE, (i) => sortCursorOf(INVITATION_SORT[order.by], i, i.id), (i) => i);
    return page(
      c,
      'invitations',
      'Invitations',
      <>
        <h2>Invite someone</h2>
        <Done text={done(c)} />
        <Problem text={options.problem} />
        <p>We mail the address a link. It works for 14 days, once, and only for that address: signing in with it accepts the invitation. No password is ever needed.</p>
        <InviteForm action={`${base(c)}/settings/invitations`} csrf={c.get('csrfToken')} myRole={c.get('org').role} email={options.email ?? ''} role={options.role ?? 'member'} invalid={options.problem !== undefined} />
        <h2>Pending invitations</h2>
        <DataTable
          c={c}
          path={`${base(c)}/settings/invitations`}
          caption={`Pending invitations, ${orderWords(columns, state, INVITATIONS_DEFAULT)}`}
          columns={columns}
          rows={pending.items}
          state={state}
          nextCursor={pending.nextCursor}
          empty={<p>No invitation is waiting for an answer. Invitations that were accepted, revoked or are over 14 days old are not listed.</p>}
        />
      </>,
      options.status ?? 200,
    );
  };

  app.get('/o/:org/settings/invitations', (c) => (isAdmin(c) ? invitationsPage(c) : adminOnly(c, 'invitations')));

  app.post('/o/:org/settings/invitations', async (c) => {
    if (!isAdmin(c)) return adminOnly(c, 'invitations');
    const raw = await field(c, 'email');
    const role = await field(c, 'role');
    const email = normalizeEmail(raw);
    const chosen = (ROLES as string[]).includes(role) ? (role as Role) : undefined;
    if (!email) return invitationsPage(c, { problem: 'That does not look like an email address.', status: 400, email: raw, ...(chosen ? { role: chosen } : {}) });
    if (!chosen) return invitationsPage(c, { problem: 'Choose one of the roles offered.', status: 400, email: raw });
    const { orgId, role: myRole } = c.get('org');
    try {
      const result = await inviteMember(deps, { orgId, email, role: chosen, by: { role: myRole, userId: me(c).userId }, ...actorOf(c), now: deps.clock() });
      return c.redirect(`${base(c)}/settings/invitations?done=${result.mailed ? 'invited' : 'invited-unmailed'}`, 303);
    } catch (error) {
      if (error instanceof OrgRuleError) return invitationsPage(c, { problem: error.message, status: RULE_STATUS[error.kind], email: raw, role: chosen });
      throw error;
    }
  });

  app.post('/o/:org/settings/invitations/:id/revoke', async (c) => {
    if (!isAdmin(c)) return adminOnly(c, 'invitations');
    const id = idParam(c, 'id');
    const revoked = id !== null && (await revokeInvitation(db, { orgId: c.get('org').orgId, invitationId: id, ...actorOf(c), now: deps.clock() }));
    if (!revoked) return invitationsPage(c, { problem: 'There is no such pending invitation: it may have been accepted, revoked or have expired.', status: 404 });
    return c.redirect(`${base(c)}/settings/invitations?done=revoked`, 303);
  });

  // ---- API keys ----------------------------------------------------------------------------------

  const keyState = (k: ApiKeySummary, now: Date): string => (k.revokedAt ? `revoked ${when(k.revokedAt)}` : k.expiresAt && k.expiresAt <= now ? `expired ${when(k.expiresAt)}` : 'active');

  const keyColumns = (c: C, now: Date): Column<ApiKeySummary>[] => [
    { key: 'name', label: 'Name', sortable: true, value: (k) => k.name },
    { key: 'prefix', label: 'Key starts with', sortable: true, value: (k) => k.prefix, render: (k) => <code>{k.prefix}…</code> },
    { key: 'scope', label: 'Scope', sortable: true, value: (k) => k.scope },
    { key: 'created', label: 'Created', sortable: true, value: (k) => k.createdAt.toISOString(), render: (k) => when(k.createdAt) },
    { key: 'lastUsed', label: 'Last used', sortable: true, value: (k) => (k.lastUsedAt ? k.lastUsedAt.toISOString() : null), render: (k) => (k.lastUsedAt ? when(k.lastUsedAt) : 'never') },
    { key: 'expires', label: 'Expires', sortable: true, value: (k) => (k.expiresAt ? k.expiresAt.toISOString() : null), render: (k) => (k.expiresAt ? when(k.expiresAt) : 'never') },
    { key: 'state', label: 'State', sortable: true, value: (k) => keyState(k, now) },
    { key: 'actions', label: 'Actions', value: () => null, render: (k) => (keyState(k, now) === 'active' ? <RevokeApiKey base={base(c)} csrf={c.get('csrfToken')} summary={k} /> : <span class="muted">—</span>) },
  ];

  const keysPage = async (c: C, options: { problem?: string; invalid?: Set<string>; name?: string; scope?: ApiScope; expires?: string } = {}) => {
    const orgId = c.get('org').orgId;
    const now = deps.clock();
    const columns = keyColumns(c, now);
    const sorts = apiKeySort(now);
    const state = tableState(c, columns, KEYS_DEFAULT);
    const order = listOrder(sorts, state, { by: KEYS_DEFAULT.sort, dir: KEYS_DEFAULT.dir });
    const format = downloadFormat(c);
    if (format) return tableDownload(c, 'api-keys', format, columns.slice(0, 7), await listApiKeys(db, orgId, { limit: DOWNLOAD_LIMIT, after: null, order, now }));
    const after = cursorOf(c, sorts[order.by]);
    if (after === undefined) return staleCursor(c, 'api-keys');
    const rows = await listApiKeys(db, orgId, { limit: PAGE + 1, after, order, now });
    const keys = toPage(rows, PAGE, (k) => sortCursorOf(sorts[order.by], k, k.id), (k) => k);
    return page(
      c,
      'api-keys',
      'API keys',
      <>
        <h2>Create an API key</h2>
        <Done text={done(c)} />
        <Problem text={options.problem} />
        <p>
          Keys let programs use the <a href="/api/docs">REST API</a> for this organisation only. The key is shown once, when it is created.
        </p>
        <ApiKeyForm action={`${base(c)}/settings/api-keys`} csrf={c.get('csrfToken')} name={options.name ?? ''} scope={options.scope ?? 'read'} expires={options.expires ?? ''} invalid={options.invalid ?? new Set()} />
        <h2>Keys</h2>
        <DataTable
          c={c}
          path={`${base(c)}/settings/api-keys`}
          caption={`API keys, ${orderWords(columns, state, KEYS_DEFAULT)}`}
          columns={columns}
          rows={keys.items}
          state={state}
          nextCursor={keys.nextCursor}
          empty={<p>No API keys yet. Create one above for a script, a monitoring system or a SIEM export.</p>}
        />
      </>,
      options.problem ? 400 : 200,
    );
  };

  app.get('/o/:org/settings/api-keys', (c) => (isAdmin(c) ? keysPage(c) : adminOnly(c, 'api-keys')));

  app.post('/o/:org/settings/api-keys', async (c) => {
    if (!isAdmin(c)) return adminOnly(c, 'api-keys');
    const name = (await field(c, 'name')).trim();
    const scopeField = await field(c, 'scope');
    const expires = (await field(c, 'expires')).trim();
    const scope = (['read', 'write', 'admin'] as string[]).includes(scopeField) ? (scopeField as ApiScope) : null;
    const now = deps.clock();
    const again = { name, expires, ...(scope ? { scope } : {}) };
    if (name === '' || name.length > 100) return keysPage(c, { ...again, problem: 'Give the key a name of 1 to 100 characters.', invalid: new Set(['name']) });
    if (!scope) return keysPage(c, { ...again, problem: 'Choose one of the scopes offered.' });
    let expiresAt: Date | null = null;
    if (expires !== '') {
      expiresAt = /^\d{4}-\d{2}-\d{2}$/.test(expires) ? new Date(`${expires}T00:00:00Z`) : new Date(Number.NaN);
      if (Number.isNaN(expiresAt.getTime())) return keysPage(c, { ...again, problem: 'The expiry date is not a date.', invalid: new Set(['expires']) });
      if (expiresAt <= now) return keysPage(c, { ...again, problem: 'The expiry date must be in the future (the key stops working at the start of that day, UTC).', invalid: new Set(['expires']) });
    }
    const created = await createApiKey(db, { orgId: c.get('org').orgId, ...actorOf(c), now, name, scope, expiresAt });
    // Shown in this answer only: never in a URL, a redirect or a log.
    return page(c, 'api-keys', 'Your new API key', <NewApiKey base={base(c)} apiKey={created.key} summary={created.summary} />);
  });

  app.post('/o/:org/settings/api-keys/:id/revoke', async (c) => {
    if (!isAdmin(c)) return adminOnly(c, 'api-keys');
    const id = idParam(c, 'id');
    const revoked = id !== null && (await revokeApiKey(db, { orgId: c.get('org').orgId, apiKeyId: id, ...actorOf(c), now: deps.clock() }));
    if (!revoked) return keysPage(c, { problem: 'There is no such active key: it may have been revoked already.' });
    return c.redirect(`${base(c)}/settings/api-keys?done=key-revoked`, 303);
  });

  // ---- deletion ----------------------------------------------------------------------------------

  const deletePage = async (c: C, problem?: string) => {
    const org = await getOrganization(db, c.get('org').orgId);
    if (!org) return page(c, 'general', 'Settings', <Problem text="This organisation no longer exists." />, 404);
    if (c.get('org').role !== 'owner') return refuse(c, 'general', 'Only an owner can delete the organisation.');
    if (org.slug === DEFAULT_ORG_SLUG) return page(c, 'general', 'Settings', <DangerZone base={base(c)} role="owner" isDefault />, 409);
    return page(
      c,
      'general',
      `Delete ${org.name}`,
      <>
        <h2>Delete {org.name}?</h2>
        <DeleteOrganizationForm action={`${base(c)}/settings/delete`} csrf={c.get('csrfToken')} name={org.name} {...(problem ? { problem } : {})} />
        <p>
          <a href={`${base(c)}/settings`}>Cancel</a>
        </p>
      </>,
      problem ? 400 : 200,
    );
  };

  app.get('/o/:org/settings/delete', (c) => deletePage(c));

  app.post('/o/:org/settings/delete', async (c) => {
    if (c.get('org').role !== 'owner') return refuse(c, 'general', 'Only an owner can delete the organisation.');
    const org = await getOrganization(db, c.get('org').orgId);
    if (!org) return page(c, 'general', 'Settings', <Problem text="This organisation no longer exists." />, 404);
    if ((await field(c, 'confirm')).trim() !== org.name) return deletePage(c, `Type the name exactly as shown (${org.name}) to confirm.`);
    try {
      await deleteOrganization(db, { orgId: org.id, ...actorOf(c) });
    } catch (error) {
      if (error instanceof OrgRuleError) return page(c, 'general', 'Settings', <Problem text={error.message} />, RULE_STATUS[error.kind]);
      throw error;
    }
    return c.redirect('/', 303);
  });

  return app;
}

/** The page cursor of the query string for this order: null for the first page, undefined when it is not one of ours. */
function cursorOf<Row>(c: C, key: SortKey<Row>): SortCursor | null | undefined {
  try {
    return decodeSortCursor(c.req.query('cursor'), key);
  } catch (error) {
    if (error instanceof ApiError) return undefined;
    throw error;
  }
}

function staleCursor(c: C, tab: string) {
  return c.redirect(`${base(c)}/settings/${tab}`, 303);
}
