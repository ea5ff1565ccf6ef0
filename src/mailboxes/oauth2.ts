import { createHash, randomBytes } from 'node:crypto';

/*
 * OAuth 2.0 for mailbox access (IMAP XOAUTH2): provider presets, the authorization-code flow
 * with PKCE for the initial consent, and refresh-token grants for polling. Errors never carry
 * client secrets, refresh tokens, access tokens, authorization codes or PKCE verifiers.
 */

export type OAuthProviderId = 'google' | 'microsoft';

export interface OAuthProviderPreset {
  provider: OAuthProviderId;
  name: string;
  authorizationUrl: string;
  tokenUrl: string;
  scope: string;
  /** Extra authorization-request parameters the provider needs to issue a refresh token. */
  authorizationParams: Readonly<Record<string, string>>;
  imap: { host: string; port: number; tlsMode: 'implicit' };
}

export const GOOGLE_PRESET: OAuthProviderPreset = Object.freeze({
  provider: 'google',
  name: 'Google',
  authorizationUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
  tokenUrl: 'https://oauth2.googleapis.com/token',
  scope: 'https://mail.google.com/',
  // Google only returns a refresh token for offline access, and only on a fresh consent.
  authorizationParams: Object.freeze({ access_type: 'offline', prompt: 'consent' }),
  imap: Object.freeze({ host: 'imap.gmail.com', port: 993, tlsMode: 'implicit' as const }),
});

const TENANT = /^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$/;

/** Microsoft 365 / Outlook.com. `tenant` is "common", "organizations", "consumers", a tenant id or domain. */
export function microsoftPreset(tenant = 'common'): OAuthProviderPreset {
  if (!TENANT.test(tenant)) {
    throw new TypeError('Microsoft tenant must be "common", "organizations", "consumers", a tenant id (GUID) or a domain name');
  }
  const base = `https://login.microsoftonline.com/${tenant}/oauth2/v2.0`;
  return Object.freeze({
    provider: 'microsoft',
    name: 'Microsoft 365',
    authorizationUrl: `${base}/authorize`,
    tokenUrl: `${base}/token`,
    // offline_access is what makes Microsoft issue a refresh token.
    scope: 'https://outlook.office365.com/IMAP.AccessAsUser.All offline_access',
    authorizationParams: Object.freeze({}),
    imap: Object.freeze({ host: 'outlook.office365.com', port: 993, tlsMode: 'implicit' as const }),
  });
}

/** Preset by provider id; `tokenUrl` / `authorizationUrl` override the provider's endpoints. */
export function oauthPreset(
  provider: OAuthProviderId,
  options: { tenant?: string; tokenUrl?: string; authorizationUrl?: string } = {},
): OAuthProviderPreset {
  const preset = provider === 'google' ? GOOGLE_PRESET : microsoftPreset(options.tenant);
  return Object.freeze({
    ...preset,
    tokenUrl: options.tokenUrl ?? preset.tokenUrl,
    authorizationUrl: options.authorizationUrl ?? preset.authorizationUrl,
  });
}

// ---------------------------------------------------------------------------------------------

export type OAuthErrorCode = 'invalid_grant' | 'invalid_client' | 'temporary' | 'protocol';

/**
 * - invalid_grant: the refresh token (or authorization code) is no longer accepted; the mailbox
 *   needs to be authorised again.
 * - invalid_client: the client id / secret is wrong or expired; fix the mailbox's OAuth settings.
 * - temporary: network failure, timeout, 429 or 5xx; retry later.
 * - protocol: the endpoint answered in a way that is not OAuth 2.0 (wrong URL, bad JSON, …).
 */
export class OAuthError extends Error {
  constructor(
    readonly code: OAuthErrorCode,
    message: string,
    /** HTTP status of the token endpoint's answer, when there was one. */
    readonly status?: number,
    /** The provider's `error` value (e.g. "invalid_grant"), when it sent one. */
    readonly providerError?: string,
    /** Seconds the provider asked us to wait (Retry-After), for 'temporary' errors. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'OAuthError';
  }
}

export interface OAuthTokens {
  accessToken: string;
  expiresAt: Date;
  /** Present only when the provider issued a new refresh token (rotation); store it, it replaces the old one. */
  refreshToken?: string;
  /** Scopes granted, when the provider says. */
  scope?: string;
}

interface EndpointOptions {
  tokenUrl: string;
  clientId: string;
  /** Omit for public clients (PKCE without a secret). */
  clientSecret?: string | null;
  /** How the client authenticates: form fields (default; Google and Microsoft) or HTTP Basic. */
  clientAuth?: 'post' | 'basic';
  fetchImpl?: typeof fetch;
  /** Whole-request limit, including reading the answer. Default 15 s. */
  timeoutMs?: number;
}

export interface RefreshOptions extends EndpointOptions {
  refreshToken: string;
  scope?: string;
}

/** Uses a refresh token to obtain a new access token (grant_type=refresh_token). */
export async function refreshAccessToken(options: RefreshOptions): Promise<OAuthTokens> {
  if (!options.refreshToken) throw new OAuthError('invalid_grant', 'This mailbox has no OAuth refresh token: connect the mailbox to authorise it.');
  const params: Record<string, string> = { grant_type: 'refresh_token', refresh_token: options.refreshToken };
  if (options.scope) params.scope = options.scope;
  const tokens = await requestTokens(options, params, [options.refreshToken], 'refresh');
  if (tokens.refreshToken === options.refreshToken) delete tokens.refreshToken;
  return tokens;
}

export interface CodeExchangeOptions extends EndpointOptions {
  code: string;
  redirectUri: string;
  codeVerifier: string;
}

/** Completes the consent: trades the authorization code (with its PKCE verifier) for tokens. */
export async function exchangeAuthorizationCode(options: CodeExchangeOptions): Promise<OAuthTokens & { refreshToken: string }> {
  assertVerifier(options.codeVerifier);
  const params = {
    grant_type: 'authorization_code',
    code: options.code,
    redirect_uri: options.redirectUri,
    code_verifier: options.codeVerifier,
  };
  const tokens = await requestTokens(options, params, [options.code, options.codeVerifier], 'exchange');
  if (!tokens.refreshToken) {
    throw new OAuthError(
      'protocol',
      'The provider did not issue a refresh token, so the mailbox could not be polled after the access token expires. ' +
        'For Google, consent must be requested with access_type=offline and prompt=consent; for Microsoft, the scope ' +
        'must include offline_access. Connect the mailbox again.',
    );
  }
  return tokens as OAuthTokens & { refreshToken: string };
}

/** Reuses the current access token while it stays valid for more than a minute; otherwise refreshes. */
export async function accessTokenFor(
  current: { accessToken?: string | null; expiresAt?: Date | null },
  refresh: () => Promise<OAuthTokens>,
  now: Date = new Date(),
): Promise<OAuthTokens & { refreshed: boolean }> {
  const { accessToken, expiresAt } = current;
  if (accessToken && expiresAt && expiresAt.getTime() - now.getTime() > REUSE_MARGIN_MS) {
    return { accessToken, expiresAt, refreshed: false };
  }
  return { ...(await refresh()), refreshed: true };
}

const REUSE_MARGIN_MS = 60_000;

// ---------------------------------------------------------------------------------------------
// Authorization request with PKCE (RFC 7636, S256).

const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/** A new PKCE code verifier: 32 random bytes, base64url (43 characters). */
export function createCodeVerifier(): string {
  return randomBytes(32).toString('base64url');
}

/** The S256 code challenge for a verifier: base64url(SHA-256(verifier)). */
export function codeChallengeS256(verifier: string): string {
  assertVerifier(verifier);
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

function assertVerifier(verifier: string): void {
  if (typeof verifier !== 'string' || !VERIFIER.test(verifier)) {
    throw new TypeError('PKCE code verifier must be 43-128 characters of A-Z, a-z, 0-9, "-", ".", "_" or "~"');
  }
}

export interface AuthorizationRequestOptions {
  authorizationUrl: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  /** Generated when omitted. Check it against the callback's `state` before exchanging the code. */
  state?: string;
  /** Generated when omitted. */
  codeVerifier?: string;
  /** Pre-fills the account (the mailbox address). */
  loginHint?: string;
  /** Provider-specific parameters (see OAuthProviderPreset.authorizationParams); cannot override the core ones. */
  authorizationParams?: Readonly<Record<string, string>>;
}

/**
 * The URL to send the user to for consent. Keep `state` and `codeVerifier` server-side (they
 * are secrets until the code is exchanged) and pass the verifier to exchangeAuthorizationCode().
 * Accepts a spread preset: `buildAuthorizationUrl({ ...preset, clientId, redirectUri })`.
 */
export function buildAuthorizationUrl(options: AuthorizationRequestOptions): { url: string; state: string; codeVerifier: string } {
  const url = endpointUrl(options.authorizationUrl, 'authorization URL');
  const state = options.state ?? randomBytes(24).toString('base64url');
  const codeVerifier = options.codeVerifier ?? createCodeVerifier();
  const params = url.searchParams;
  for (const [name, value] of Object.entries(options.authorizationParams ?? {})) params.set(name, value);
  params.set('response_type', 'code');
  params.set('client_id', options.clientId);
  params.set('redirect_uri', options.redirectUri);
  params.set('scope', options.scope);
  params.set('state', state);
  params.set('code_challenge', codeChallengeS256(codeVerifier));
  params.set('code_challenge_method', 'S256');
  if (options.loginHint) params.set('login_hint', options.loginHint);
  return { url: url.toString(), state, codeVerifier };
}

// ---------------------------------------------------------------------------------------------
// Token endpoint.

const DEFAULT_TIMEOUT_MS = 15_000;
/** RFC 6749 makes expires_in optional; assume a short life so a stale token is not reused for long. */
const DEFAULT_EXPIRES_IN_S = 300;
const MAX_RESPONSE_BYTES = 1024 * 1024;

async function requestTokens(
  options: EndpointOptions,
  grant: Record<string, string>,
  grantSecrets: string[],
  purpose: 'refresh' | 'exchange',
): Promise<OAuthTokens> {
  const secrets = [...grantSecrets, options.clientSecret ?? ''].filter((s) => s !== '');
  const fail = (code: OAuthErrorCode, message: string, status?: number, providerError?: string, retryAfter?: number) => {
    const safeProviderError = providerError !== undefined && redact(providerError, secrets) === providerError ? providerError : undefined;
    return new OAuthError(code, redact(message, secrets), status, safeProviderError, retryAfter);
  };

  let url: URL;
  try {
    url = endpointUrl(options.tokenUrl, 'token URL');
  } catch (error) {
    throw fail('protocol', (error as Error).message);
  }
  const endpoint = `${url.origin}${url.pathname}`;
  const body = new URLSearchParams(grant);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  if (options.clientAuth === 'basic') {
    const user = encodeURIComponent(options.clientId);
    const pass = encodeURIComponent(options.clientSecret ?? '');
    const credentials = Buffer.from(`${user}:${pass}`).toString('base64');
    headers.authorization = `Basic ${credentials}`;
    secrets.push(credentials);
  } else {
    body.set('client_id', options.clientId);
    if (options.clientSecret) body.set('client_secret', options.clientSecret);
  }

  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);

  // Expiry counts from when the request was sent, so it errs on the early side.
  const sentAt = Date.now();
  let status: number;
  let retryAfter: number | undefined;
  let text: string | null;
  try {
    const fetchImpl = options.fetchImpl ?? fetch;
    // No redirects: following one would re-send the secrets to wherever it points.
    const response = await fetchImpl(url, { method: 'POST', headers, body, signal: controller.signal, redirect: 'manual' });
    status = response.status;
    retryAfter = parseRetryAfter(response.headers.get('retry-after'));
    text = await readLimited(response, MAX_RESPONSE_BYTES);
  } catch (error) {
    if (timedOut) {
      throw fail('temporary', `The token endpoint ${endpoint} did not answer within ${timeoutMs} ms; this is usually temporary and will be retried.`);
    }
    throw fail('temporary', `Could not reach the token endpoint ${endpoint} (${networkErrorCode(error)}); check the network or DNS, it will be retried.`);
  } finally {
    clearTimeout(timer);
  }

  if (text === null) throw fail('protocol', `The token endpoint ${endpoint} sent an answer over ${MAX_RESPONSE_BYTES} bytes; check the token URL.`, status);
  const json = parseJsonObject(text);

  if (status >= 200 && status < 300) {
    if (!json) throw fail('protocol', `The token endpoint ${endpoint} answered HTTP ${status} without a JSON object; check the token URL.`, status);
    return readTokens(json, sentAt, endpoint, status, fail);
  }
  if (status === 0 || (status >= 300 && status < 400)) {
    throw fail('protocol', `The token endpoint ${endpoint} answered with a redirect (HTTP ${status}); configure the final token URL instead.`, status);
  }

  const providerError = json && typeof json.error === 'string' ? cleanCode(json.error) : undefined;
  const description = json && typeof json.error_description === 'string' ? cleanDescription(json.error_description, secrets) : undefined;
  const said = providerError ? ` The provider said: ${providerError}${description ? ` (${description})` : ''}.` : '';

  if (status === 408 || status === 429 || status >= 500 || providerError === 'temporarily_unavailable' || providerError === 'server_error') {
    throw fail('temporary', `The token endpoint ${endpoint} answered HTTP ${status}; this is usually temporary and will be retried.${said}`, status, providerError, retryAfter);
  }
  if (providerError === 'invalid_grant' || providerError === 'invalid_scope') {
    const what =
      purpose === 'refresh'
        ? providerError === 'invalid_scope'
          ? 'The provider no longer grants the mailbox scope to this refresh token: reconnect the mailbox to authorise DMARC Watch again.'
          : 'The provider no longer accepts this mailbox\'s refresh token (it expired, or access was revoked or the password changed): reconnect the mailbox to authorise DMARC Watch again.'
        : 'The provider rejected the authorization code (it expired, was already used, or the redirect URI or PKCE verifier does not match): start connecting the mailbox again.';
    throw fail('invalid_grant', `${what}${said}`, status, providerError);
  }
  if (providerError === 'invalid_client' || providerError === 'unauthorized_client' || (status === 401 && !providerError)) {
    throw fail(
      'invalid_client',
      `The provider rejected the OAuth client: check the client ID and client secret configured for this mailbox (client secrets expire, e.g. in Microsoft Entra ID) and that the app may use this grant.${said}`,
      status,
      providerError,
    );
  }
  throw fail(
    'protocol',
    `The token endpoint ${endpoint} refused the request with HTTP ${status}; check the token URL and the mailbox's OAuth settings.${said}`,
    status,
    providerError,
  );
}

type Fail = (code: OAuthErrorCode, message: string, status?: number) => OAuthError;

function readTokens(json: Record<string, unknown>, sentAt: number, endpoint: string, status: number, fail: Fail): OAuthTokens {
  const accessToken = json.access_token;
  if (typeof accessToken !== 'string' || accessToken === '') {
    throw fail('protocol', `The token endpoint ${endpoint} answered without an access_token; check the token URL.`, status);
  }
  if (json.token_type !== undefined && (typeof json.token_type !== 'string' || json.token_type.toLowerCase() !== 'bearer')) {
    throw fail('protocol', `The token endpoint ${endpoint} issued a token that is not a Bearer token, which IMAP cannot use.`, status);
  }
  let expiresIn = DEFAULT_EXPIRES_IN_S;
  if (json.expires_in !== undefined && json.expires_in !== null) {
    const n = typeof json.expires_in === 'string' ? Number(json.expires_in) : json.expires_in;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
      throw fail('protocol', `The token endpoint ${endpoint} sent an invalid expires_in; check the token URL.`, status);
    }
    expiresIn = n;
  }
  const tokens: OAuthTokens = { accessToken, expiresAt: new Date(sentAt + expiresIn * 1000) };
  if (typeof json.refresh_token === 'string' && json.refresh_token !== '') tokens.refreshToken = json.refresh_token;
  if (typeof json.scope === 'string') tokens.scope = json.scope;
  return tokens;
}

function endpointUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`The OAuth ${what} is not a valid URL`);
  }
  const loopback = url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new TypeError(`The OAuth ${what} must use https:// (plain http is only accepted for localhost)`);
  }
  if (url.username || url.password) throw new TypeError(`The OAuth ${what} must not contain a user name or password`);
  return url;
}

async function readLimited(response: Response, limit: number): Promise<string | null> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJsonObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || !/^\d{1,6}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

function networkErrorCode(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  if (cause && typeof cause.code === 'string' && /^[A-Z_]{2,40}$/.test(cause.code)) return cause.code;
  return 'network error';
}

function cleanCode(value: string): string | undefined {
  return /^[\x21-\x7e]{1,64}$/.test(value) ? value : undefined;
}

function cleanDescription(value: string, secrets: string[]): string | undefined {
  // Redact before truncating, so a cut cannot leave part of a secret behind.
  // eslint-disable-next-line no-control-regex
  const text = redact(value, secrets).replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  if (text === '') return undefined;
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** Provider text is echoed in messages; make sure none of our secrets ride along. */
function redact(message: string, secrets: string[]): string {
  let out = message;
  for (const secret of secrets) {
    for (const form of new Set([secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)])) {
      if (form !== '') out = out.replaceAll(form, '[redacted]');
    }
  }
  return out;
}
