import type { Context } from 'hono';
import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import { assetUrl } from '../http/assets.js';
import type { WebEnv } from '../http/env.js';

/** The organisation a page belongs to, for the switcher and the section navigation. */
export interface OrgNav {
  current: { slug: string; name: string };
  all: Array<{ slug: string; name: string }>;
  /** The section the page is in, marked in the navigation. */
  section: OrgSection;
}

export type OrgSection = 'overview' | 'domains' | 'reports' | 'sources' | 'mailboxes' | 'upload' | 'ingest' | 'settings' | 'audit';

const SECTIONS: Array<{ key: OrgSection; label: string; path: string }> = [
  { key: 'overview', label: 'Overview', path: '' },
  { key: 'domains', label: 'Domains', path: '/domains' },
  { key: 'reports', label: 'Reports', path: '/reports' },
  { key: 'mailboxes', label: 'Mailboxes', path: '/mailboxes' },
  { key: 'upload', label: 'Upload', path: '/upload' },
  { key: 'ingest', label: 'Ingest log', path: '/ingest-log' },
  { key: 'settings', label: 'Settings', path: '/settings' },
  { key: 'audit', label: 'Audit log', path: '/audit' },
];

export interface LayoutProps {
  title: string;
  /** Signed-in user, for the navigation; omit on anonymous pages. */
  user?: { email: string } | null;
  org?: OrgNav;
  /** The session's anti-CSRF token (needed by the sign-out button). */
  csrfToken?: string | null;
  children?: Child;
}

/** Hidden `_csrf` field for a form that POSTs while signed in. */
export function CsrfField(props: { token: string | null | undefined }) {
  return props.token ? <input type="hidden" name="_csrf" value={props.token} /> : null;
}

/** The page frame. No inline script or style: the CSP allows /assets files only (copy.js enhances Copy buttons). */
export function Layout(props: LayoutProps) {
  return (
    <>
      {raw('<!doctype html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="referrer" content="same-origin" />
          <title>{props.title} · DMARC Watch</title>
          <link rel="stylesheet" href={assetUrl('app.css')} />
          <link rel="icon" type="image/svg+xml" href={assetUrl('favicon.svg')} />
          <script src={assetUrl('copy.js')} defer></script>
        </head>
        <body>
          <a class="skip-link" href="#main">
            Skip to content
          </a>
          <header class="site-header">
            <a class="brand" href="/">
              DMARC Watch
            </a>
            {props.user ? (
              <nav class="site-nav" aria-label="Account">
                <ul>
                  <li>
                    <span class="muted">{props.user.email}</span>
                  </li>
                  <li>
                    <a href="/settings/sessions">Sessions</a>
                  </li>
                  <li>
                    <a href="/settings/security">Security</a>
                  </li>
                  <li>
                    <form method="post" action="/sign-out">
                      <CsrfField token={props.csrfToken} />
                      <button type="submit" class="link">
                        Sign out
                      </button>
                    </form>
                  </li>
                </ul>
              </nav>
            ) : null}
          </header>
          {props.org ? <OrgBar org={props.org} /> : null}
          <main id="main" class={props.org ? 'wide' : undefined}>
            {props.children}
          </main>
        </body>
      </html>
    </>
  );
}

function OrgBar(props: { org: OrgNav }) {
  const base = `/o/${encodeURIComponent(props.org.current.slug)}`;
  const others = props.org.all.filter((o) => o.slug !== props.org.current.slug);
  return (
    <div class="org-bar">
      {others.length > 0 ? (
        <details class="org-switcher">
          <summary>
            <span class="visually-hidden">Organisation: </span>
            {props.org.current.name}
          </summary>
          <ul>
            {others.map((o) => (
              <li>
                <a href={`/o/${encodeURIComponent(o.slug)}`}>{o.name}</a>
              </li>
            ))}
            <li>
              <a href="/orgs/new">New organisation…</a>
            </li>
          </ul>
        </details>
      ) : (
        <strong class="org-name">{props.org.current.name}</strong>
      )}
      <nav aria-label="Sections">
        <ul>
          {SECTIONS.map((section) => (
            <li>
              <a href={`${base}${section.path}`} aria-current={section.key === props.org.section ? 'page' : undefined}>
                {section.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
    </div>
  );
}

/**
 * Renders a page in the layout with the request's user and CSRF token filled in. Pages are never
 * cached (the security headers add Cache-Control: no-store).
 */
export function renderPage(c: Context<WebEnv>, title: string, content: Child, status: 200 | 400 | 403 | 404 | 409 | 429 = 200, org?: OrgNav) {
  const caller = c.get('caller');
  const user = caller.kind === 'user' ? { email: caller.email } : null;
  return c.html(
    <Layout title={title} user={user} csrfToken={c.get('csrfToken')} {...(org ? { org } : {})}>
      {content}
    </Layout>,
    status,
  );
}

/** A short page that only says something (errors, refusals), with a way back. */
export function renderMessage(
  c: Context<WebEnv>,
  title: string,
  paragraphs: string[],
  status: 200 | 400 | 403 | 404 | 429 = 200,
  next: { href: string; label: string } = { href: '/', label: 'Go to DMARC Watch' },
) {
  return renderPage(
    c,
    title,
    <>
      <h1>{title}</h1>
      {paragraphs.map((text) => (
        <p>{text}</p>
      ))}
      <p>
        <a href={next.href}>{next.label}</a>
      </p>
    </>,
    status,
  );
}
