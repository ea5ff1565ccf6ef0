import type { Context, MiddlewareHandler } from 'hono';
import type { Kysely } from 'kysely';
import type { Child } from 'hono/jsx';
import type { DB } from '../db/schema.js';
import type { WebEnv } from '../http/env.js';
import { orgAccessFor } from '../orgs/access.js';
import { organizationsOf } from '../orgs/memberships.js';
import { renderMessage, renderPage, type OrgSection } from './layout.js';

/**
 * For pages under /o/:org: a signed-in member of that organisation, or a 404 page (the same for
 * an organisation that does not exist as for one the person is not in). Sets `org`.
 */
export function requireOrgMember(db: Kysely<DB>): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const caller = c.get('caller');
    if (caller.kind !== 'user') return c.redirect('/sign-in', 303);
    // A page shows the organisation switcher: its list is read beside the access check, not after.
    const forPage = c.req.method === 'GET' || c.req.method === 'HEAD';
    const [access, organizations] = await Promise.all([
      orgAccessFor(db, caller, c.req.param('org') ?? ''),
      forPage ? organizationsOf(db, caller.userId) : undefined,
    ]);
    if (!access) return renderMessage(c, 'Not found', ['There is no such organisation, or you are not a member of it.'], 404);
    c.set('org', access);
    if (organizations) c.set('organizations', organizations);
    return next();
  };
}

/** The slug of the organisation in the URL (after requireOrgMember). */
export function orgSlugOf(c: Context<WebEnv>): string {
  return c.req.param('org') ?? '';
}

/** A page inside an organisation: the layout with the switcher and the section navigation. */
export async function renderOrgPage(c: Context<WebEnv>, db: Kysely<DB>, title: string, section: OrgSection, content: Child, status: 200 | 400 | 403 | 404 | 409 = 200) {
  const caller = c.get('caller');
  const orgs = c.get('organizations') ?? (caller.kind === 'user' ? await organizationsOf(db, caller.userId) : []);
  const slug = orgSlugOf(c);
  const current = orgs.find((o) => o.slug === slug) ?? { slug, name: slug };
  return renderPage(c, title, content, status, { current: { slug: current.slug, name: current.name }, all: orgs.map(({ slug: s, name }) => ({ slug: s, name })), section });
}
