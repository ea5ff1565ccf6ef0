import { Hono, type Context } from 'hono';
import type { Kysely } from 'kysely';
import { roleAllows } from '../auth/roles.js';
import type { Config } from '../config.js';
import type { DB } from '../db/schema.js';
import type { WebEnv } from '../http/env.js';
import { sharedDnsResolver } from '../lib/dns.js';
import { CopyField } from '../web/components/copy-field.js';
import { TextField } from '../web/components/text-field.js';
import { CsrfField } from '../web/layout.js';
import { orgSlugOf, renderOrgPage } from '../web/org-context.js';
import { addDomain, checkDomainProof, deleteDomain, DomainExistsError, findDomain, listDomains, viewDomain, type DomainView } from './manage.js';
import { DomainNameError } from './name.js';

type C = Context<WebEnv>;

/** How many domains the page lists; organisations with more use the API's pages. */
const PAGE_LIMIT = 500;

function when(date: Date | null): string {
  return date === null ? 'never' : `${new Date(date).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function DomainsPage(props: { c: C; domains: DomainView[]; canWrite: boolean; canAdmin: boolean; problem?: string; name?: string }) {
  const base = `/o/${encodeURIComponent(orgSlugOf(props.c))}`;
  const csrf = props.c.get('csrfToken');
  return (
    <>
      <h1>Domains</h1>
      <p>
        The domains whose DMARC reports you watch. Reports for a domain are shown whether or not it is listed here; listing it lets you prove you own it
        and keeps it on the overview.
      </p>
      {props.canWrite ? (
        <form class="stack" method="post" action={`${base}/domains`}>
          <CsrfField token={csrf} />
          <TextField
            id="domain-name"
            name="name"
            label="Add a domain"
            hint="The domain in your From: addresses, such as example.com. Internationalised names are fine."
            value={props.name ?? ''}
            problem={props.problem}
            maxlength={253}
          />
          <button type="submit">Add domain</button>
        </form>
      ) : (
        <p class="muted">Viewers can see the domains; a member can add them.</p>
      )}
      {props.domains.length === 0 ? (
        <div class="empty-state">
          <h2>No domains yet</h2>
          <p>Add the domain you send mail from. Then publish a DMARC record with a rua= address you read, and connect that mailbox or upload reports.</p>
        </div>
      ) : (
        props.domains.map((d) => (
          <section class="card domain-card" aria-labelledby={`domain-${d.id}`}>
            <h2 id={`domain-${d.id}`}>
              <a href={`${base}/domains/${encodeURIComponent(d.name)}`}>{d.displayName}</a>
            </h2>
            <p class={d.proof.status === 'verified' ? 'check-met' : 'check-unknown'}>{d.proof.statusText}</p>
            <p>
              To prove ownership, publish this record{d.proof.required ? ' (required before its reports count)' : ''}:
            </p>
            <div class="stack key-result">
              <CopyField id={`proof-name-${d.id}`} label="Name (host)" value={d.proof.record.name} what={`the record name for ${d.displayName}`} />
              <CopyField id={`proof-value-${d.id}`} label="TXT value" value={d.proof.record.value} what={`the TXT value for ${d.displayName}`} />
            </div>
            <p class="muted">
              Last checked {when(d.proof.lastCheckedAt)}; next check {when(d.proof.nextCheckAt)}.
            </p>
            <div class="table-nav">
              {props.canWrite ? (
                <form method="post" action={`${base}/domains/${d.id}/verify`}>
                  <CsrfField token={csrf} />
                  <button type="submit" class="secondary">
                    Check now
                  </button>
                </form>
              ) : null}
              {props.canAdmin ? (
                <form method="post" action={`${base}/domains/${d.id}/delete`}>
                  <CsrfField token={csrf} />
                  <button type="submit" class="danger" aria-label={`Remove ${d.displayName}`}>
                    Remove
                  </button>
                </form>
              ) : null}
            </div>
          </section>
        ))
      )}
    </>
  );
}

/** The organisation's domains: add, prove ownership with a DNS record, check now, remove. */
export function domainPages(deps: { db: Kysely<DB>; config: Config; clock: () => Date }): Hono<WebEnv> {
  const { db, config } = deps;
  const app = new Hono<WebEnv>();
  const base = (c: C) => `/o/${encodeURIComponent(orgSlugOf(c))}/domains`;
  const change = (c: C) => {
    const caller = c.get('org').caller;
    return {
      orgId: c.get('org').orgId,
      actor: caller.kind === 'user' ? ({ type: 'user', id: caller.userId } as const) : ({ type: 'api_key', id: caller.apiKeyId } as const),
      ip: c.get('client').ip,
      now: deps.clock(),
    };
  };
  const render = async (c: C, status: 200 | 400 | 403 | 409 = 200, form: { problem?: string; name?: string } = {}) => {
    const org = c.get('org');
    const rows = await listDomains(db, org.orgId, { limit: PAGE_LIMIT, after: null });
    return renderOrgPage(
      c,
      db,
      'Domains',
      'domains',
      <DomainsPage c={c} domains={rows.map((row) => viewDomain(row, config.requireDomainProof))} canWrite={roleAllows(org.role, 'write')} canAdmin={roleAllows(org.role, 'admin')} {...form} />,
      status,
    );
  };
  const refused = (c: C) => render(c, 403, { problem: 'Your role in this organisation cannot change domains.' });

  app.get('/o/:org/domains', (c) => render(c));

  app.post('/o/:org/domains', async (c) => {
    if (!roleAllows(c.get('org').role, 'write')) return refused(c);
    const body = await c.req.parseBody();
    const name = typeof body.name === 'string' ? body.name.trim() : '';
    try {
      await addDomain(db, { ...change(c), name });
    } catch (error) {
      if (error instanceof DomainNameError) return render(c, 400, { problem: error.message, name });
      if (error instanceof DomainExistsError) return render(c, 409, { problem: error.message, name });
      throw error;
    }
    return c.redirect(base(c), 303);
  });

  app.post('/o/:org/domains/:id/verify', async (c) => {
    if (!roleAllows(c.get('org').role, 'write')) return refused(c);
    const row = await findDomain(db, c.get('org').orgId, Number(c.req.param('id')));
    if (!row) return c.notFound();
    await checkDomainProof(db, sharedDnsResolver(config.dns), row, { ...change(c), always: true });
    return c.redirect(base(c), 303);
  });

  app.post('/o/:org/domains/:id/delete', async (c) => {
    if (!roleAllows(c.get('org').role, 'admin')) return refused(c);
    const removed = await deleteDomain(db, { ...change(c), domainId: Number(c.req.param('id')) });
    if (!removed) return c.notFound();
    return c.redirect(base(c), 303);
  });

  return app;
}
