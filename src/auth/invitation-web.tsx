import { Hono } from 'hono';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { WebEnv } from '../http/env.js';
import { requireUser } from '../http/require-user.js';
import { CsrfField, renderMessage, renderPage } from '../web/layout.js';
import { acceptInvitation, peekInvitation, type PendingInvitation } from './invitations.js';

const ROLE_NAMES = { owner: 'an owner', admin: 'an admin', member: 'a member', viewer: 'a viewer' } as const;

function InvitationPage(props: { invitation: PendingInvitation; token: string; csrf: string | null; signedInAs: string | null }) {
  const { invitation } = props;
  const forThisAccount = props.signedInAs !== null && props.signedInAs.toLowerCase() === invitation.email.toLowerCase();
  return (
    <>
      <h1>Join {invitation.organization.name}</h1>
      <p>
        You are invited to join <strong>{invitation.organization.name}</strong> on DMARC Watch as {ROLE_NAMES[invitation.role]}.
      </p>
      {forThisAccount ? (
        <form class="stack" method="post" action="/invitations/accept">
          <CsrfField token={props.csrf} />
          <input type="hidden" name="token" value={props.token} />
          <button type="submit">Join {invitation.organization.name}</button>
        </form>
      ) : props.signedInAs !== null ? (
        <p class="notice">
          This invitation was sent to another address than the one you are signed in with ({props.signedInAs}). Sign out, then sign
          in with the address the invitation was sent to.
        </p>
      ) : (
        <>
          <p>
            It was sent to <strong>{invitation.email}</strong>. Sign in with that address — we mail it a sign-in link — and you join
            as you sign in. No password needed.
          </p>
          <form class="stack" method="post" action="/sign-in">
            <CsrfField token={props.csrf} />
            <input type="hidden" name="email" value={invitation.email} />
            <button type="submit">Mail me a sign-in link</button>
          </form>
        </>
      )}
      <p class="muted">If you do not want to join, close this page: nothing happens unless you accept.</p>
    </>
  );
}

const unusable = [
  'It has been accepted or revoked, or it is more than 14 days old. Ask whoever invited you for a new one.',
];

/**
 * The page the invitation mail links to. Opening it changes nothing (mail scanners fetch links):
 * a signed-in person with the invited address accepts with a button (a POST with the CSRF token);
 * anyone else is asked to sign in with that address, which accepts it.
 */
export function invitationRoutes(deps: { db: Kysely<DB>; clock: () => Date }): Hono<WebEnv> {
  const app = new Hono<WebEnv>();

  app.get('/invitations/accept', async (c) => {
    const token = c.req.query('token') ?? '';
    const invitation = await peekInvitation(deps.db, token, deps.clock());
    if (!invitation) return renderMessage(c, 'This invitation cannot be used', unusable, 404);
    const caller = c.get('caller');
    const signedInAs = caller.kind === 'user' ? caller.email : null;
    return renderPage(c, 'Invitation', <InvitationPage invitation={invitation} token={token} csrf={c.get('csrfToken')} signedInAs={signedInAs} />);
  });

  app.post('/invitations/accept', requireUser, async (c) => {
    const caller = c.get('caller');
    if (caller.kind !== 'user') throw new Error('requireUser must run before this handler');
    const form = await c.req.parseBody();
    const token = typeof form.token === 'string' ? form.token : '';
    const accepted = await acceptInvitation(deps.db, { token, user: { id: caller.userId, email: caller.email }, ip: c.get('client').ip, now: deps.clock() });
    if (!accepted) return renderMessage(c, 'This invitation cannot be used', [...unusable, 'An invitation can only be accepted by the address it was sent to.'], 404);
    return renderMessage(c, `You joined ${accepted.organization.name}`, [`You are ${ROLE_NAMES[accepted.role]} of ${accepted.organization.name}.`]);
  });

  return app;
}
