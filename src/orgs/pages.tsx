import type { Child } from 'hono/jsx';
import type { ApiKeySummary } from '../auth/api-keys.js';
import type { InvitationSummary } from '../auth/invitations.js';
import { atLeast, type ApiScope, type Role } from '../auth/roles.js';
import { CopyField } from '../web/components/copy-field.js';
import { CsrfField } from '../web/layout.js';
import type { Member } from './members.js';

export const ROLES: Role[] = ['viewer', 'member', 'admin', 'owner'];

export const ROLE_WORDS: Record<Role, string> = {
  owner: 'Owner — everything, including deleting the organisation and managing owners',
  admin: 'Admin — members, invitations, API keys and mailboxes',
  member: 'Member — adds and changes mailboxes, domains and reports',
  viewer: 'Viewer — reads only',
};

export const SCOPE_WORDS: Record<ApiScope, string> = {
  read: 'Read — reads reports, domains and settings',
  write: 'Write — also uploads reports and changes mailboxes and domains',
  admin: 'Admin — also manages members, invitations and keys',
};

export type SettingsTab = 'general' | 'members' | 'invitations' | 'api-keys' | 'services';

/** A time as people read it on these pages, in UTC. */
export function when(date: Date | null): string {
  return date === null ? 'never' : `${new Date(date).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** The settings sections, and the person's own pages (kept with their account, not the organisation). */
export function SettingsNav(props: { base: string; tab: SettingsTab; isAdmin: boolean }) {
  const tabs: Array<[SettingsTab, string, string]> = [
    ['general', 'Organisation', ''],
    ['members', 'Members', '/members'],
    ['services', 'Sending services', '/services'],
    ...(props.isAdmin
      ? ([
          ['invitations', 'Invitations', '/invitations'],
          ['api-keys', 'API keys', '/api-keys'],
        ] as Array<[SettingsTab, string, string]>)
      : []),
  ];
  return (
    <nav class="settings-nav" aria-label="Settings">
      <ul>
        {tabs.map(([key, label, path]) => (
          <li>
            <a href={`${props.base}/settings${path}`} aria-current={key === props.tab ? 'page' : undefined}>
              {label}
            </a>
          </li>
        ))}
        <li>
          <a href="/settings/sessions">Your sessions</a>
        </li>
        <li>
          <a href="/settings/security">Your two-factor sign-in</a>
        </li>
      </ul>
    </nav>
  );
}

/** A rule's refusal or a problem with the form, in words. */
export function Problem(props: { text: string | undefined }) {
  return props.text ? (
    <p class="error" role="alert">
      {props.text}
    </p>
  ) : null;
}

export function Done(props: { text: string | undefined }) {
  return props.text ? (
    <p class="notice ok" role="status">
      {props.text}
    </p>
  ) : null;
}

export function RenameForm(props: { action: string; csrf: string | null; name: string; invalid: boolean }) {
  return (
    <form class="stack" method="post" action={props.action}>
      <CsrfField token={props.csrf} />
      <label for="org-name">
        Organisation name
        <span class="hint" id="org-name-hint">
          Shown to members and in invitation mails. The address of its pages stays the same.
        </span>
      </label>
      <input type="text" id="org-name" name="name" value={props.name} required maxlength={100} aria-describedby="org-name-hint" aria-invalid={props.invalid ? 'true' : undefined} />
      <button type="submit">Rename</button>
    </form>
  );
}

/** Role change and removal for one member, within what the caller may do (the rules decide in the end). */
export function MemberActions(props: { base: string; csrf: string | null; member: Member; me: { userId: number; role: Role } }) {
  const { member, me } = props;
  const self = member.userId === me.userId;
  const path = `${props.base}/settings/members/${member.userId}`;
  const canManage = atLeast(me.role, 'admin') && (member.role !== 'owner' || me.role === 'owner');
  const offered = ROLES.filter((role) => atLeast(me.role, role) && (role !== 'owner' || me.role === 'owner'));
  const forms: Child[] = [];
  if (canManage) {
    forms.push(
      <form method="post" action={`${path}/role`} class="inline-form">
        <CsrfField token={props.csrf} />
        <label for={`role-${member.userId}`} class="visually-hidden">
          Role of {member.email}
        </label>
        <select id={`role-${member.userId}`} name="role">
          {offered.map((role) => (
            <option value={role} selected={role === member.role}>
              {role}
            </option>
          ))}
        </select>{' '}
        <button type="submit" class="secondary">
          Change role
        </button>
      </form>,
    );
  }
  if (canManage || self) {
    forms.push(
      <form method="post" action={`${path}/remove`} class="inline-form">
        <CsrfField token={props.csrf} />
        <button type="submit" class="danger" aria-label={self ? 'Leave the organisation' : `Remove ${member.email}`}>
          {self ? 'Leave' : 'Remove'}
        </button>
      </form>,
    );
  }
  return forms.length > 0 ? <div class="actions">{forms}</div> : <span class="muted">—</span>;
}

export function InviteForm(props: { action: string; csrf: string | null; myRole: Role; email: string; role: Role; invalid: boolean }) {
  return (
    <form class="stack" method="post" action={props.action}>
      <CsrfField token={props.csrf} />
      <label for="invite-email">Email address</label>
      <input type="email" id="invite-email" name="email" value={props.email} required maxlength={320} autocomplete="off" aria-invalid={props.invalid ? 'true' : undefined} />
      <label for="invite-role">Role</label>
      <select id="invite-role" name="role">
        {ROLES.filter((role) => atLeast(props.myRole, role) && (role !== 'owner' || props.myRole === 'owner')).map((role) => (
          <option value={role} selected={role === props.role}>
            {ROLE_WORDS[role]}
          </option>
        ))}
      </select>
      <button type="submit">Send invitation</button>
    </form>
  );
}

export function RevokeInvitation(props: { base: string; csrf: string | null; invitation: InvitationSummary }) {
  return (
    <form method="post" action={`${props.base}/settings/invitations/${props.invitation.id}/revoke`} class="inline-form">
      <CsrfField token={props.csrf} />
      <button type="submit" class="danger" aria-label={`Revoke the invitation of ${props.invitation.email}`}>
        Revoke
      </button>
    </form>
  );
}

export function ApiKeyForm(props: { action: string; csrf: string | null; name: string; scope: ApiScope; expires: string; invalid: Set<string> }) {
  return (
    <form class="stack" method="post" action={props.action}>
      <CsrfField token={props.csrf} />
      <label for="key-name">
        Name
        <span class="hint">What uses the key, e.g. “SIEM export” or “deploy script”.</span>
      </label>
      <input type="text" id="key-name" name="name" value={props.name} required maxlength={100} aria-invalid={props.invalid.has('name') ? 'true' : undefined} />
      <label for="key-scope">Scope</label>
      <select id="key-scope" name="scope">
        {(Object.keys(SCOPE_WORDS) as ApiScope[]).map((scope) => (
          <option value={scope} selected={scope === props.scope}>
            {SCOPE_WORDS[scope]}
          </option>
        ))}
      </select>
      <label for="key-expires">
        Expires on (optional)
        <span class="hint" id="key-expires-hint">
          The key stops working at the start of this day (UTC). Leave empty for a key that works until revoked.
        </span>
      </label>
      <input type="date" id="key-expires" name="expires" value={props.expires} aria-describedby="key-expires-hint" aria-invalid={props.invalid.has('expires') ? 'true' : undefined} />
      <button type="submit">Create API key</button>
    </form>
  );
}

/** The new key, this once: a read-only field to copy it from, and a warning. */
export function NewApiKey(props: { base: string; apiKey: string; summary: ApiKeySummary }) {
  return (
    <>
      <h2>Your new API key</h2>
      <p class="notice warn" role="alert">
        Copy the key now and keep it somewhere safe: it is shown only this once. DMARC Watch stores only a hash of it and cannot show it again. If you lose it, revoke it and
        create another.
      </p>
      <div class="key-result">
        <CopyField
          id="new-key"
          label={`API key “${props.summary.name}” (${props.summary.scope} scope${props.summary.expiresAt ? `, expires ${when(props.summary.expiresAt)}` : ', no expiry'})`}
          value={props.apiKey}
          what="the API key"
          hint={
            <>
              Send it as <code>Authorization: Bearer {props.summary.prefix}…</code> to <code>/api/v1</code>; see the <a href="/api/docs">API reference</a>.
            </>
          }
        />
      </div>
      <p>
        <a href={`${props.base}/settings/api-keys`}>Done: back to the API keys</a>
      </p>
    </>
  );
}

export function RevokeApiKey(props: { base: string; csrf: string | null; summary: ApiKeySummary }) {
  return (
    <form method="post" action={`${props.base}/settings/api-keys/${props.summary.id}/revoke`} class="inline-form">
      <CsrfField token={props.csrf} />
      <button type="submit" class="danger" aria-label={`Revoke the key ${props.summary.name}`}>
        Revoke
      </button>
    </form>
  );
}

/** The danger zone: only owners delete, and never the default organisation. */
export function DangerZone(props: { base: string; role: Role; isDefault: boolean }) {
  return (
    <section class="danger-zone" aria-labelledby="danger-zone">
      <h2 id="danger-zone">Delete the organisation</h2>
      {props.isDefault ? (
        <p>The default organisation holds what the command line imports and cannot be deleted; remove its mailboxes and reports instead.</p>
      ) : props.role === 'owner' ? (
        <>
          <p>Deletes every mailbox, domain, report, API key, invitation and membership of this organisation. Its audit trail stays. This cannot be undone.</p>
          <p>
            <a href={`${props.base}/settings/delete`}>Delete this organisation…</a>
          </p>
        </>
      ) : (
        <p class="muted">Only an owner can delete the organisation.</p>
      )}
    </section>
  );
}

export function DeleteOrganizationForm(props: { action: string; csrf: string | null; name: string; problem?: string }) {
  return (
    <>
      <p>
        This deletes <strong>{props.name}</strong> and everything it owns: mailboxes and their credentials, domains, every report with its records and raw documents, the
        ingest log, API keys, invitations and memberships. Its audit trail stays, with the deletion as its last event. It cannot be undone.
      </p>
      <form class="stack" method="post" action={props.action}>
        <CsrfField token={props.csrf} />
        <Problem text={props.problem} />
        <label for="confirm-name">
          Type the organisation's name to confirm
          <span class="hint" id="confirm-name-hint">
            {props.name}
          </span>
        </label>
        <input type="text" id="confirm-name" name="confirm" required autocomplete="off" aria-describedby="confirm-name-hint" aria-invalid={props.problem ? 'true' : undefined} />
        <button type="submit" class="danger">
          Delete the organisation and everything it owns
        </button>
      </form>
    </>
  );
}
