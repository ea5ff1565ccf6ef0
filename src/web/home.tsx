import { Hono } from 'hono';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { WebEnv } from '../http/env.js';
import { requireUser } from '../http/require-user.js';
import { organizationsOf } from '../orgs/memberships.js';
import { createOrganization } from '../orgs/organizations.js';
import { TextField } from './components/text-field.js';
import { CsrfField, renderPage } from './layout.js';

function NewOrganization(props: { csrf: string | null; first: boolean; problem?: string; name?: string }) {
  return (
    <>
      <h1>{props.first ? 'Welcome to DMARC Watch' : 'New organisation'}</h1>
      {props.first ? (
        <p>
          Start with an organisation: it holds your domains, the mailboxes that receive their reports, and the people who may see them. You can invite others
          once it exists.
        </p>
      ) : null}
      <form class="stack" method="post" action="/orgs/new">
        <CsrfField token={props.csrf} />
        <TextField id="name" name="name" label="Organisation name" hint={'Your company or team, for example "Example Ltd". You can rename it later.'} value={props.name ?? ''} problem={props.problem} maxlength={100} />
        <button type="submit">Create organisation</button>
      </form>
    </>
  );
}

/** The home page (the person's organisation, or onboarding) and creating an organisation. */
export function homePages(deps: { db: Kysely<DB>; clock: () => Date }): Hono<WebEnv> {
  const app = new Hono<WebEnv>();

  app.get('/', requireUser, async (c) => {
    const caller = c.get('caller');
    if (caller.kind !== 'user') return c.redirect('/sign-in', 303);
    const orgs = await organizationsOf(deps.db, caller.userId);
    const first = orgs[0];
    if (first) return c.redirect(`/o/${encodeURIComponent(first.slug)}`, 303);
    return renderPage(c, 'Welcome', <NewOrganization csrf={c.get('csrfToken')} first={true} />);
  });

  app.get('/orgs/new', requireUser, (c) => renderPage(c, 'New organisation', <NewOrganization csrf={c.get('csrfToken')} first={false} />));

  app.post('/orgs/new', requireUser, async (c) => {
    const caller = c.get('caller');
    if (caller.kind !== 'user') return c.redirect('/sign-in', 303);
    const body = await c.req.parseBody();
    const name = typeof body.name === 'string' ? body.name.trim() : '';
    if (name === '' || name.length > 100) {
      return renderPage(c, 'New organisation', <NewOrganization csrf={c.get('csrfToken')} first={false} name={name} problem="Give the organisation a name of 1 to 100 characters." />, 400);
    }
    const org = await createOrganization(deps.db, { name, ownerUserId: caller.userId, actor: { type: 'user', id: caller.userId }, ip: c.get('client').ip, now: deps.clock() });
    return c.redirect(`/o/${encodeURIComponent(org.slug)}`, 303);
  });

  return app;
}
