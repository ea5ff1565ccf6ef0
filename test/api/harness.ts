import { createApiKey } from '../../src/auth/api-keys.js';
import type { ApiScope, Role } from '../../src/auth/roles.js';
import { findUserByEmail } from '../../src/auth/users.js';
import { createOrganization, type Organization } from '../../src/orgs/organizations.js';
import { PUBLIC_URL, type Browser, type Harness } from '../auth/harness.js';

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/** How a test calls the API: with an API key, a signed-in browser (cookie + CSRF token), or nobody. */
export type ApiCaller = { key: string } | { browser: Browser } | { anonymous: true; ip?: string };

/** One API call; JSON in and out (the body is text when the answer is not JSON). */
// Tests read answers field by field and compare them with expectations; `any` keeps that terse.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function callApi<T = any>(h: Harness, caller: ApiCaller, method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
  const url = `/api/v1${path}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const init = { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) };
  let response: Response;
  if ('browser' in caller) {
    if (method !== 'GET' && method !== 'HEAD') {
      headers.origin = PUBLIC_URL;
      if (caller.browser.csrf === null) await caller.browser.get('/settings/security');
      headers['x-csrf-token'] = caller.browser.csrf ?? '';
    }
    response = await caller.browser.request(url, init);
  } else {
    if ('key' in caller) headers.authorization = `Bearer ${caller.key}`;
    const peer = 'ip' in caller && caller.ip ? caller.ip : '198.51.100.7';
    response = await h.app.request(`${PUBLIC_URL}${url}`, init, { incoming: { socket: { remoteAddress: peer } } });
  }
  const text = await response.text();
  let parsed: unknown = text;
  if ((response.headers.get('content-type') ?? '').includes('json') && text !== '') parsed = JSON.parse(text);
  return { status: response.status, body: parsed as T, headers: response.headers };
}

export interface Member {
  browser: Browser;
  userId: number;
  email: string;
}

/** Signs a person in through the real mail flow. */
export async function signedIn(h: Harness, email: string): Promise<Member> {
  const browser = await h.signIn(email);
  const user = await findUserByEmail(h.database.db, email);
  if (!user) throw new Error(`no account for ${email}`);
  return { browser, userId: user.id, email };
}

/** A new organisation owned by `owner`, with more members at the roles given (added directly). */
export async function orgWith(h: Harness, name: string, owner: Member, others: Array<{ member: Member; role: Role }> = []): Promise<Organization> {
  const org = await createOrganization(h.database.db, { name, ownerUserId: owner.userId, actor: { type: 'user', id: owner.userId }, ip: null, now: h.clock() });
  for (const { member, role } of others) {
    await h.database.db.insertInto('membership').values({ org_id: org.id, user_id: member.userId, role }).execute();
  }
  return org;
}

/** A new API key of the organisation. */
export async function keyFor(h: Harness, orgId: number, scope: ApiScope, options: { expiresAt?: Date } = {}): Promise<string> {
  const created = await createApiKey(h.database.db, { orgId, actor: { type: 'system', id: 'test' }, ip: null, now: h.clock(), name: `${scope} key`, scope, expiresAt: options.expiresAt ?? null });
  return created.key;
}
