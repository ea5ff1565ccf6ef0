import type { Context } from 'hono';
import type { Mailer } from '../mail/mailer.js';
import { CopyButton, CopyField } from '../web/components/copy-field.js';
import { DataTable, orderWords, sortRows, tableState, type Column } from '../web/components/data-table.js';
import { CsrfField } from '../web/layout.js';
import type { SessionSummary } from './sessions.js';
import type { TotpEnrolment, TotpStatus } from './totp.js';

type Csrf = { csrf: string | null };

const dateTime = (date: Date) => `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

export function SignInPage(props: Csrf & { email?: string; error?: string }) {
  return (
    <>
      <h1>Sign in</h1>
      <p>Enter your email address. We will mail you a link that signs you in; no password needed.</p>
      {props.error ? (
        <p class="error" id="email-error" role="alert">
          {props.error}
        </p>
      ) : null}
      <form class="stack" method="post" action="/sign-in">
        <CsrfField token={props.csrf} />
        <label for="email">Email address</label>
        <input
          type="email"
          id="email"
          name="email"
          required
          autocomplete="email"
          spellcheck={false}
          value={props.email ?? ''}
          aria-invalid={props.error ? 'true' : undefined}
          aria-describedby={props.error ? 'email-error' : undefined}
        />
        <button type="submit">Mail me a sign-in link</button>
      </form>
    </>
  );
}

export function SentPage(props: { mailer: Mailer['kind']; validMinutes: number }) {
  return (
    <>
      <h1>Check your mail</h1>
      <p>
        If that address can receive mail, a sign-in link is on its way. It works once, for {props.validMinutes} minutes. You can
        close this page.
      </p>
      {props.mailer === 'log' ? (
        <p class="notice">
          This server has no outgoing mail configured (SMTP_URL), so the mail was written to the server log instead. Whoever runs
          the server can find the link there.
        </p>
      ) : null}
      {props.mailer === 'none' ? (
        <p class="notice">This server has no outgoing mail configured (SMTP_URL), so no mail could be sent. Ask whoever runs it.</p>
      ) : null}
      <p>
        <a href="/sign-in">Use another address</a>
      </p>
    </>
  );
}

export function ConfirmPage(props: Csrf & { email: string; token: string }) {
  return (
    <>
      <h1>Sign in to DMARC Watch</h1>
      <p>
        Sign in as <strong>{props.email}</strong>?
      </p>
      <form class="stack" method="post" action="/auth/confirm">
        <CsrfField token={props.csrf} />
        <input type="hidden" name="token" value={props.token} />
        <button type="submit">Sign in</button>
      </form>
      <p class="muted">If you did not ask to sign in, close this page: nothing happens without this button.</p>
    </>
  );
}

export function SecondFactorPage(props: Csrf & { error?: string }) {
  return (
    <>
      <h1>Two-factor authentication</h1>
      <p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>
      {props.error ? (
        <p class="error" id="code-error" role="alert">
          {props.error}
        </p>
      ) : null}
      <form class="stack" method="post" action="/auth/2fa">
        <CsrfField token={props.csrf} />
        <label for="code">Code</label>
        <input
          type="text"
          id="code"
          name="code"
          required
          autocomplete="one-time-code"
          inputmode="numeric"
          spellcheck={false}
          aria-invalid={props.error ? 'true' : undefined}
          aria-describedby={props.error ? 'code-error' : undefined}
        />
        <button type="submit">Continue</button>
      </form>
      <form method="post" action="/sign-out">
        <CsrfField token={props.csrf} />
        <button type="submit" class="link">
          Cancel and sign out
        </button>
      </form>
    </>
  );
}

export const SESSIONS_DEFAULT = { sort: 'lastSeen', dir: 'desc', words: 'most recently used first' } as const;

/** The columns of the sessions table; `currentId` marks this browser, `csrf` arms the sign-out buttons (none in downloads). */
export function sessionColumns(props: { currentId: number; csrf?: string | null }): Column<SessionSummary>[] {
  const columns: Column<SessionSummary>[] = [
    {
      key: 'device',
      label: 'Device',
      sortable: true,
      value: (session) => session.device,
      render: (session) => (
        <>
          {session.device}
          {session.id === props.currentId ? (
            <>
              {' '}
              <span class="badge">this browser</span>
            </>
          ) : null}
          {session.secondFactorPending ? (
            <>
              {' '}
              <span class="badge">waiting for code</span>
            </>
          ) : null}
        </>
      ),
    },
    { key: 'ip', label: 'IP address', sortable: true, value: (session) => session.ip, render: (session) => session.ip ?? 'unknown' },
    { key: 'signedIn', label: 'Signed in', sortable: true, value: (session) => session.createdAt.toISOString(), render: (session) => dateTime(session.createdAt) },
    { key: 'lastSeen', label: 'Last seen', sortable: true, value: (session) => session.lastSeenAt.toISOString(), render: (session) => dateTime(session.lastSeenAt) },
  ];
  if (props.csrf === undefined) return columns;
  columns.push({
    key: 'action',
    label: 'Action',
    value: () => null,
    render: (session) => (
      <form method="post" action={`/settings/sessions/${session.id}/revoke`}>
        <CsrfField token={props.csrf} />
        <button type="submit" class="secondary" aria-label={`Sign out ${session.device}, last seen ${dateTime(session.lastSeenAt)}`}>
          Sign out
        </button>
      </form>
    ),
  });
  return columns;
}

export function SessionsPage(props: Csrf & { c: Context; sessions: SessionSummary[]; currentId: number }) {
  const columns = sessionColumns({ currentId: props.currentId, csrf: props.csrf });
  const state = tableState(props.c, columns, SESSIONS_DEFAULT);
  return (
    <>
      <h1>Sessions</h1>
      <p>Every browser signed in to your account. Sign out any you do not recognise.</p>
      <DataTable
        c={props.c}
        caption={`Active sessions, ${orderWords(columns, state, SESSIONS_DEFAULT)}`}
        columns={columns}
        rows={sortRows(props.sessions, columns, state)}
        state={state}
        nextCursor={null}
        empty={<p>No active session.</p>}
      />
      <h2>Sign out everywhere</h2>
      <p>Ends every session, this one included.</p>
      <form method="post" action="/settings/sessions/revoke-all">
        <CsrfField token={props.csrf} />
        <button type="submit" class="danger">
          Sign out everywhere
        </button>
      </form>
    </>
  );
}

const SECURITY_NOTICES: Record<string, string> = {
  'totp-disabled': 'Two-factor authentication is off.',
};

export function SecurityPage(
  props: Csrf & { status: TotpStatus; enrolment: TotpEnrolment | null; error?: string; notice?: string | undefined },
) {
  const notice = props.notice ? SECURITY_NOTICES[props.notice] : undefined;
  return (
    <>
      <h1>Security</h1>
      {notice ? (
        <p class="notice ok" role="status">
          {notice}
        </p>
      ) : null}
      <h2>Two-factor authentication</h2>
      {props.error ? (
        <p class="error" id="code-error" role="alert">
          {props.error}
        </p>
      ) : null}
      {props.status.enabled ? (
        <>
          <p>
            On. Signing in asks for a code from your authenticator app. Recovery codes left:{' '}
            <strong>{props.status.recoveryCodesLeft}</strong>.
          </p>
          <form class="stack" method="post" action="/settings/security/totp/disable">
            <CsrfField token={props.csrf} />
            <label for="code">
              Current code or a recovery code
              <span class="hint">Needed to turn two-factor authentication off.</span>
            </label>
            <input type="text" id="code" name="code" required autocomplete="one-time-code" inputmode="numeric" spellcheck={false} />
            <button type="submit" class="danger">
              Turn off
            </button>
          </form>
        </>
      ) : props.enrolment ? (
        <>
          <p>Add this account to your authenticator app, then enter the code it shows.</p>
          <div class="stack key-result">
            <CopyField id="totp-secret" label="Secret key" value={props.enrolment.secret} what="the secret key" />
            <CopyField id="totp-uri" label="Or the setup URI" value={props.enrolment.uri} what="the setup URI" />
          </div>
          <form class="stack" method="post" action="/settings/security/totp/confirm">
            <CsrfField token={props.csrf} />
            <label for="code">6-digit code</label>
            <input
              type="text"
              id="code"
              name="code"
              required
              autocomplete="one-time-code"
              inputmode="numeric"
              spellcheck={false}
              aria-invalid={props.error ? 'true' : undefined}
              aria-describedby={props.error ? 'code-error' : undefined}
            />
            <button type="submit">Turn on</button>
          </form>
          <form method="post" action="/settings/security/totp/enrol">
            <CsrfField token={props.csrf} />
            <button type="submit" class="link">
              Start over with a new secret
            </button>
          </form>
        </>
      ) : (
        <>
          <p>Off. Add a one-time code from an authenticator app to every sign-in.</p>
          <form method="post" action="/settings/security/totp/enrol">
            <CsrfField token={props.csrf} />
            <button type="submit">Set up two-factor authentication</button>
          </form>
        </>
      )}
    </>
  );
}

export function RecoveryCodesPage(props: { codes: string[] }) {
  return (
    <>
      <h1>Two-factor authentication is on</h1>
      <p>
        Keep these recovery codes somewhere safe. Each one signs you in once if you lose your authenticator app.{' '}
        <strong>They are shown only now.</strong>
      </p>
      <ul class="codes" id="recovery-codes" tabindex={-1} aria-label="Recovery codes">
        {props.codes.map((code) => (
          <li>{code}</li>
        ))}
      </ul>
      <p>
        <CopyButton target="recovery-codes" what="all recovery codes" />
      </p>
      <p>
        <a href="/settings/security">Done</a>
      </p>
    </>
  );
}
