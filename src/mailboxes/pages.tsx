import type { ConnectionVerdict } from './check-connection.js';
import { statusOfView, type MailboxStatus } from './mailbox-changes.js';
import type { MailboxView } from './manage.js';
import { CsrfField } from '../web/layout.js';

/** A time as people read it on these pages, in UTC. */
export function when(date: Date | null): string {
  return date === null ? 'never' : `${new Date(date).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export const STATUS_WORDS: Record<MailboxStatus, string> = {
  ok: 'OK',
  failing: 'Failing',
  needs_reauth: 'Needs re-authorisation',
  paused: 'Paused',
  waiting: 'Waiting for the first poll',
};

/** The status in words with what to do about it, for a person rather than a program. */
export function statusAdvice(view: MailboxView): { status: MailboxStatus; text: string; todo: string | null } {
  const { status } = statusOfView(view);
  switch (status) {
    case 'paused':
      return { status, text: 'Paused: not polled until resumed.', todo: 'Resume it to read new reports again.' };
    case 'needs_reauth':
      return {
        status,
        text: `The server refused the credentials, so polling has stopped.${view.lastError ? ` ${view.lastError}` : ''}`,
        todo:
          view.authMethod === 'password'
            ? 'Enter the current password under “Change settings” and save; polling starts again at once.'
            : 'The refresh token no longer works: remove the mailbox and add it again with a new refresh token.',
      };
    case 'waiting':
      return { status, text: `Not polled yet; the first poll is due at ${when(view.nextPollAt)}.`, todo: 'Use “Test connection” to check the settings now.' };
    case 'failing': {
      const times = view.consecutiveFailures > 1 ? `The last ${view.consecutiveFailures} polls failed` : 'The last poll failed';
      return {
        status,
        text: `${times}: ${view.lastError ?? 'no reason was recorded.'}`,
        todo: `DMARC Watch tries again at ${when(view.nextPollAt)}, waiting longer after each failure. Fix what the error says, then use “Test connection”.`,
      };
    }
    default:
      return { status, text: `The last poll worked (${when(view.lastPollFinishedAt)}); the next is due at ${when(view.nextPollAt)}.`, todo: null };
  }
}

export function StatusBadge(props: { status: MailboxStatus }) {
  return <span class={`mailbox-status status-${props.status}`}>{STATUS_WORDS[props.status]}</span>;
}

export function ConnectionResult(props: { verdict: ConnectionVerdict }) {
  const { verdict } = props;
  return verdict.ok ? (
    <p class="notice ok" role="status">
      Connection OK: {verdict.detail}.
    </p>
  ) : (
    <p class="error" role="alert">
      The connection test failed{verdict.code ? ` (${verdict.code.replace(/_/g, ' ')})` : ''}: {verdict.problem}
    </p>
  );
}

/** What a rua= mailbox is and how to connect one: the list's empty state. */
export function NoMailboxes(props: { base: string; canWrite: boolean }) {
  return (
    <>
      <h2>No mailbox connected yet</h2>
      <p>
        Receivers (Google, Microsoft, Yahoo…) send DMARC aggregate reports, once a day, to the address in the <code>rua=</code> tag of your DMARC record, for
        example <code>v=DMARC1; p=none; rua=mailto:dmarc@example.com</code>. DMARC Watch reads that mailbox over IMAP or POP3, with TLS, and stores every report
        it finds.
      </p>
      <ol>
        <li>Create an address (or use an existing one) that only receives reports, and put it in your DMARC record's rua= tag.</li>
        <li>{props.canWrite ? <a href={`${props.base}/mailboxes/new`}>Add the mailbox here</a> : 'Ask a member or an admin to add the mailbox here'} with its server, user name and password.</li>
        <li>Test the connection: DMARC Watch then polls it every 15 minutes.</li>
      </ol>
      <p class="muted">
        Have reports already? <a href={`${props.base}/upload`}>Upload them</a>.
      </p>
    </>
  );
}

/** The fields of the add and edit forms, as the browser sent them (secrets never go back to it). */
export type MailboxForm = Record<string, string>;

export const SECRET_FIELDS = ['password', 'oauthClientSecret', 'oauthRefreshToken'] as const;

const FIELD_LABELS: Record<string, string> = {
  name: 'Name',
  protocol: 'Protocol',
  host: 'Server',
  port: 'Port',
  tlsMode: 'TLS',
  caPem: 'Private CA certificate',
  username: 'User name',
  authMethod: 'Sign-in method',
  password: 'Password',
  oauthProvider: 'OAuth provider',
  oauthTokenUrl: 'Token endpoint URL',
  oauthClientId: 'Client ID',
  oauthClientSecret: 'Client secret',
  oauthScope: 'Scope',
  oauthRefreshToken: 'Refresh token',
  folder: 'Folder',
  afterProcessing: 'After reading a message',
  processedFolder: 'Folder for processed mail',
  invalidFolder: 'Folder for mail that is not a report',
  pollIntervalMinutes: 'Poll every (minutes)',
};

/** The use case's `field: problem` lines with the form's labels. */
export function problemsInWords(message: string): { fields: Set<string>; lines: string[] } {
  const fields = new Set<string>();
  const lines = message.split('\n').map((line) => {
    const match = /^([A-Za-z]+): (.*)$/.exec(line);
    if (!match) return line;
    const [, field = '', problem = ''] = match;
    fields.add(field);
    return `${FIELD_LABELS[field] ?? field}: ${problem}`;
  });
  return { fields, lines };
}

function Field(props: {
  id: string;
  name: string;
  label: string;
  hint?: string;
  value?: string;
  type?: 'text' | 'password' | 'number';
  required?: boolean;
  invalid: Set<string>;
  autocomplete?: string;
}) {
  const hintId = props.hint ? `${props.id}-hint` : undefined;
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.hint ? (
        <span class="hint" id={hintId}>
          {props.hint}
        </span>
      ) : null}
      <input
        id={props.id}
        name={props.name}
        type={props.type ?? 'text'}
        value={props.type === 'password' ? '' : (props.value ?? '')}
        required={props.required}
        autocomplete={props.autocomplete ?? 'off'}
        aria-describedby={hintId}
        aria-invalid={props.invalid.has(props.name) ? 'true' : undefined}
      />
    </div>
  );
}

function Select(props: { id: string; name: string; label: string; hint?: string; value: string; options: Array<[string, string]>; invalid: Set<string> }) {
  const hintId = props.hint ? `${props.id}-hint` : undefined;
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.hint ? (
        <span class="hint" id={hintId}>
          {props.hint}
        </span>
      ) : null}
      <select id={props.id} name={props.name} aria-describedby={hintId} aria-invalid={props.invalid.has(props.name) ? 'true' : undefined}>
        {props.options.map(([value, label]) => (
          <option value={value} selected={value === props.value}>
            {label}
          </option>
        ))}
      </select>
    </div>
  );
}

function Problems(props: { problems: string[] }) {
  if (props.problems.length === 0) return null;
  return (
    <div class="error" role="alert">
      <p>Please correct this and send the form again:</p>
      <ul>
        {props.problems.map((p) => (
          <li>{p}</li>
        ))}
      </ul>
    </div>
  );
}

const TLS_OPTIONS: Array<[string, string]> = [
  ['implicit', 'TLS from the start (ports 993 / 995)'],
  ['starttls', 'STARTTLS / STLS upgrade (ports 143 / 110)'],
];

const AFTER_OPTIONS: Array<[string, string]> = [
  ['move', 'Move it to the processed folder (IMAP)'],
  ['seen', 'Mark it as read (IMAP)'],
  ['delete', 'Delete it'],
  ['none', 'Leave it as it is'],
];

function FolderFields(props: { values: MailboxForm; invalid: Set<string>; prefix: string }) {
  const { values, invalid, prefix } = props;
  return (
    <fieldset>
      <legend>Folders and polling</legend>
      <Field id={`${prefix}-folder`} name="folder" label="Folder" hint="Where the reports arrive (IMAP only; POP3 reads the one inbox)." value={values.folder ?? 'INBOX'} invalid={invalid} />
      <Select id={`${prefix}-after`} name="afterProcessing" label="After reading a message" value={values.afterProcessing ?? 'move'} options={AFTER_OPTIONS} invalid={invalid} />
      <Field id={`${prefix}-processed`} name="processedFolder" label="Folder for processed mail" value={values.processedFolder ?? 'DMARC Watch/Processed'} invalid={invalid} />
      <Field
        id={`${prefix}-invalid`}
        name="invalidFolder"
        label="Folder for mail that is not a report"
        hint="Messages without a report are moved here so that they are not read again."
        value={values.invalidFolder ?? 'DMARC Watch/Invalid'}
        invalid={invalid}
      />
      <Field id={`${prefix}-interval`} name="pollIntervalMinutes" label="Poll every (minutes)" type="number" value={values.pollIntervalMinutes ?? '15'} invalid={invalid} />
    </fieldset>
  );
}

function ServerFields(props: { values: MailboxForm; invalid: Set<string>; prefix: string; caHint: string }) {
  const { values, invalid, prefix } = props;
  return (
    <fieldset>
      <legend>Server</legend>
      <Field id={`${prefix}-host`} name="host" label="Server" hint="For example imap.example.com." value={values.host} required invalid={invalid} />
      <Select id={`${prefix}-tls`} name="tlsMode" label="TLS" hint="Connections always use TLS with a verified certificate; plain-text connections are not offered." value={values.tlsMode ?? 'implicit'} options={TLS_OPTIONS} invalid={invalid} />
      <Field id={`${prefix}-port`} name="port" label="Port" hint="Leave empty for the usual port of the protocol and TLS mode." type="number" value={values.port} invalid={invalid} />
      <div class="field">
        <label for={`${prefix}-ca`}>Private CA certificate (optional)</label>
        <span class="hint" id={`${prefix}-ca-hint`}>
          {props.caHint}
        </span>
        <textarea id={`${prefix}-ca`} name="caPem" rows={3} aria-describedby={`${prefix}-ca-hint`} aria-invalid={invalid.has('caPem') ? 'true' : undefined}>
          {values.caPem ?? ''}
        </textarea>
      </div>
      <Field id={`${prefix}-user`} name="username" label="User name" value={values.username} required invalid={invalid} />
    </fieldset>
  );
}

/** The "Add mailbox" form: IMAP or POP3, password or OAuth 2.0. Secret fields are always empty when shown. */
export function AddMailboxForm(props: { action: string; csrf: string | null; values: MailboxForm; problems: string[]; invalid: Set<string> }) {
  const { values, invalid } = props;
  return (
    <form class="stack wide-form" method="post" action={props.action}>
      <CsrfField token={props.csrf} />
      <Problems problems={props.problems} />
      <Field id="m-name" name="name" label="Name" hint="How this mailbox is called on these pages, e.g. “DMARC reports”." value={values.name} required invalid={invalid} />
      <Select
        id="m-protocol"
        name="protocol"
        label="Protocol"
        value={values.protocol ?? 'imap'}
        options={[
          ['imap', 'IMAP'],
          ['pop3', 'POP3'],
        ]}
        invalid={invalid}
      />
      <ServerFields values={values} invalid={invalid} prefix="m" caHint="Only when the server's certificate is signed by your own CA: paste it in PEM form (-----BEGIN CERTIFICATE-----)." />
      <fieldset>
        <legend>Sign-in</legend>
        <Select
          id="m-auth"
          name="authMethod"
          label="Sign-in method"
          value={values.authMethod ?? 'password'}
          options={[
            ['password', 'Password'],
            ['oauth2', 'OAuth 2.0 (Google, Microsoft or another provider)'],
          ]}
          invalid={invalid}
        />
        <Field id="m-password" name="password" label="Password" hint="For the password method. Stored encrypted and never shown again." type="password" autocomplete="new-password" invalid={invalid} />
        <details class="oauth-fields" open={values.authMethod === 'oauth2'}>
          <summary>OAuth 2.0 settings (for the OAuth 2.0 method)</summary>
          <Select
            id="m-provider"
            name="oauthProvider"
            label="OAuth provider"
            value={values.oauthProvider ?? 'google'}
            options={[
              ['google', 'Google'],
              ['microsoft', 'Microsoft'],
              ['custom', 'Another provider'],
            ]}
            invalid={invalid}
          />
          <Field id="m-token-url" name="oauthTokenUrl" label="Token endpoint URL" hint="Only for another provider." value={values.oauthTokenUrl} invalid={invalid} />
          <Field id="m-client-id" name="oauthClientId" label="Client ID" value={values.oauthClientId} invalid={invalid} />
          <Field id="m-client-secret" name="oauthClientSecret" label="Client secret (if the client has one)" type="password" autocomplete="new-password" invalid={invalid} />
          <Field id="m-scope" name="oauthScope" label="Scope" hint="Leave empty for the provider's mail scope." value={values.oauthScope} invalid={invalid} />
          <Field id="m-refresh" name="oauthRefreshToken" label="Refresh token" hint="Stored encrypted and never shown again." type="password" autocomplete="off" invalid={invalid} />
        </details>
      </fieldset>
      <FolderFields values={values} invalid={invalid} prefix="m" />
      <button type="submit">Add mailbox</button>
    </form>
  );
}

/** The settings of a mailbox as the edit form shows them. */
export function formOfMailbox(view: MailboxView): MailboxForm {
  return {
    name: view.name,
    host: view.host,
    port: String(view.port),
    tlsMode: view.tlsMode,
    username: view.username,
    folder: view.folder,
    afterProcessing: view.afterProcessing,
    processedFolder: view.processedFolder,
    invalidFolder: view.invalidFolder,
    pollIntervalMinutes: String(view.pollIntervalMinutes),
  };
}

/** The edit form: secrets are write-only (an empty field keeps the stored one). */
export function EditMailboxForm(props: { action: string; csrf: string | null; view: MailboxView; values: MailboxForm; problems: string[]; invalid: Set<string> }) {
  const { values, invalid, view } = props;
  return (
    <form class="stack wide-form" method="post" action={props.action}>
      <CsrfField token={props.csrf} />
      <Problems problems={props.problems} />
      <Field id="e-name" name="name" label="Name" value={values.name} required invalid={invalid} />
      <ServerFields
        values={values}
        invalid={invalid}
        prefix="e"
        caHint={view.customCa ? 'A private CA is trusted for this server. Leave empty to keep it, or paste another one.' : 'Only when the server certificate is signed by your own CA (PEM form).'}
      />
      {view.customCa ? (
        <div class="field-check">
          <input type="checkbox" id="e-ca-remove" name="removeCa" value="1" />
          <label for="e-ca-remove">Stop trusting the private CA (use the public roots only)</label>
        </div>
      ) : null}
      {view.authMethod === 'password' ? (
        <Field id="e-password" name="password" label="New password" hint="Leave empty to keep the current password. It is never shown." type="password" autocomplete="new-password" invalid={invalid} />
      ) : (
        <p class="muted">
          This mailbox signs in with OAuth 2.0 ({view.oauthProvider ?? 'custom'}). Its tokens are never shown; to use a new refresh token, remove the mailbox and add it
          again.
        </p>
      )}
      <FolderFields values={values} invalid={invalid} prefix="e" />
      <button type="submit">Save changes</button>
    </form>
  );
}

/** Buttons that act on one mailbox (write role): test, poll now, pause or resume. */
export function MailboxActions(props: { base: string; view: MailboxView; csrf: string | null; compact?: boolean }) {
  const { view } = props;
  const path = `${props.base}/mailboxes/${view.id}`;
  const button = (action: string, label: string) => (
    <form method="post" action={`${path}/${action}${props.compact && action !== 'test' ? '?from=list' : ''}`} class="inline-form">
      <CsrfField token={props.csrf} />
      <button type="submit" class="secondary" aria-label={props.compact ? `${label}: ${view.name}` : undefined}>
        {label}
      </button>
    </form>
  );
  return (
    <div class="actions">
      {button('test', 'Test connection')}
      {view.paused || view.needsReauth ? null : button('poll', 'Poll now')}
      {view.paused ? button('resume', 'Resume') : button('pause', 'Pause')}
    </div>
  );
}
