import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  accessTokenFor,
  buildAuthorizationUrl,
  codeChallengeS256,
  createCodeVerifier,
  exchangeAuthorizationCode,
  GOOGLE_PRESET,
  microsoftPreset,
  OAuthError,
  oauthPreset,
  refreshAccessToken,
  type OAuthTokens,
} from '../../src/mailboxes/oauth2.js';

const REFRESH_TOKEN = '1//refresh-SECRET-0a1b2c3d4e5f';
const CLIENT_SECRET = 'client-SECRET+/=&x9y8z7';
const ACCESS_TOKEN = 'ya29.access-SECRET-token-value';
const CLIENT_ID = 'dmarcwatch-client.apps.example';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  form: URLSearchParams;
}

type Handler = (req: Received, res: ServerResponse) => void;

interface TokenServer {
  url: string;
  requests: Received[];
  close(): Promise<void>;
}

const servers: Server[] = [];

async function startServer(handler: Handler): Promise<TokenServer> {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
      };
      requests.push(received);
      handler(received, res);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/token`,
    requests,
    close: () => closeServer(server),
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map(closeServer));
});

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

const refreshWith = (server: TokenServer, extra: Partial<Parameters<typeof refreshAccessToken>[0]> = {}) =>
  refreshAccessToken({ tokenUrl: server.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, refreshToken: REFRESH_TOKEN, ...extra });

async function failure(promise: Promise<unknown>): Promise<OAuthError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OAuthError);
  return error as OAuthError;
}

function expectNoSecrets(error: OAuthError, extra: string[] = []): void {
  const views = [error.message, JSON.stringify(error), String(error), error.stack ?? '', JSON.stringify({ ...error })];
  for (const secret of [REFRESH_TOKEN, CLIENT_SECRET, ACCESS_TOKEN, encodeURIComponent(CLIENT_SECRET), ...extra]) {
    for (const view of views) expect(view).not.toContain(secret);
  }
  for (const view of views) expect(view).not.toContain('SECRET');
}

describe('refreshAccessToken', () => {
  it('posts a form-encoded refresh_token grant and returns the new access token', async () => {
    const server = await startServer((_req, res) => json(res, 200, { access_token: ACCESS_TOKEN, expires_in: 3599, token_type: 'Bearer', scope: 'https://mail.google.com/' }));
    const before = Date.now();
    const tokens = await refreshWith(server, { scope: 'https://mail.google.com/' });
    expect(tokens.accessToken).toBe(ACCESS_TOKEN);
    expect(tokens.refreshToken).toBeUndefined();
    expect(tokens.scope).toBe('https://mail.google.com/');
    expect(tokens.expiresAt.getTime()).toBeGreaterThanOrEqual(before + 3599_000);
    expect(tokens.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 3599_000);

    const [request] = server.requests;
    expect(request?.method).toBe('POST');
    expect(request?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(request!.form)).toEqual({
      grant_type: 'refresh_token',
      refresh_token: REFRESH_TOKEN,
      scope: 'https://mail.google.com/',
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
    });
  });

  it('returns a rotated refresh token, and none when the provider repeats the old one', async () => {
    let next: Record<string, unknown> = { access_token: ACCESS_TOKEN, expires_in: 3600, refresh_token: 'rotated-refresh-token' };
    const server = await startServer((_req, res) => json(res, 200, next));
    expect((await refreshWith(server)).refreshToken).toBe('rotated-refresh-token');
    next = { access_token: ACCESS_TOKEN, expires_in: 3600, refresh_token: REFRESH_TOKEN };
    expect((await refreshWith(server)).refreshToken).toBeUndefined();
  });

  it('supports HTTP Basic client authentication and public clients without a secret', async () => {
    const server = await startServer((_req, res) => json(res, 200, { access_token: ACCESS_TOKEN, expires_in: '120' }));
    await refreshWith(server, { clientAuth: 'basic' });
    const basic = server.requests[0]!;
    const expected = Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64');
    expect(basic.headers.authorization).toBe(`Basic ${expected}`);
    expect(basic.form.has('client_secret')).toBe(false);
    expect(basic.form.has('client_id')).toBe(false);

    const publicClient = await refreshWith(server, { clientSecret: null });
    expect(publicClient.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 120_000);
    expect(server.requests[1]!.form.has('client_secret')).toBe(false);
    expect(server.requests[1]!.form.get('client_id')).toBe(CLIENT_ID);
  });

  it('reports an expired or revoked refresh token as invalid_grant (re-authorisation needed)', async () => {
    const server = await startServer((_req, res) =>
      json(res, 400, {
        error: 'invalid_grant',
        // Providers sometimes echo request data; none of it may reach the error.
        error_description: `Token has been expired or revoked. refresh_token=${REFRESH_TOKEN} secret=${encodeURIComponent(CLIENT_SECRET)}`,
      }),
    );
    const error = await failure(refreshWith(server));
    expect(error.code).toBe('invalid_grant');
    expect(error.status).toBe(400);
    expect(error.providerError).toBe('invalid_grant');
    expect(error.message).toMatch(/reconnect the mailbox/);
    expect(error.message).toContain('Token has been expired or revoked.');
    expectNoSecrets(error);
  });

  it('reports a rejected client as invalid_client', async () => {
    const server = await startServer((_req, res) =>
      json(res, 401, { error: 'invalid_client', error_description: `AADSTS7000215: Invalid client secret provided: ${CLIENT_SECRET}` }),
    );
    const error = await failure(refreshWith(server));
    expect(error.code).toBe('invalid_client');
    expect(error.message).toMatch(/check the client ID and client secret/);
    expect(error.message).toContain('AADSTS7000215');
    expectNoSecrets(error);
  });

  it('treats a bare 401 as invalid_client', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(401).end('Unauthorized');
    });
    expect((await failure(refreshWith(server))).code).toBe('invalid_client');
  });

  it.each([500, 502, 503, 429])('treats HTTP %i as temporary', async (status) => {
    const server = await startServer((_req, res) => {
      res.writeHead(status, { 'retry-after': '30', 'content-type': 'text/html' });
      res.end(`<html>oops ${REFRESH_TOKEN}</html>`);
    });
    const error = await failure(refreshWith(server));
    expect(error.code).toBe('temporary');
    expect(error.status).toBe(status);
    expect(error.retryAfterSeconds).toBe(30);
    expect(error.message).toMatch(/will be retried/);
    expectNoSecrets(error);
  });

  it('gives up on an endpoint that never answers within timeoutMs, as temporary', async () => {
    const server = await startServer(() => {
      // never respond
    });
    const started = Date.now();
    const error = await failure(refreshWith(server, { timeoutMs: 300 }));
    const elapsed = Date.now() - started;
    expect(error.code).toBe('temporary');
    expect(error.message).toMatch(/did not answer within 300 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(3000);
    expectNoSecrets(error);
  });

  it('applies the timeout to a response body that stalls', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"access_token":');
    });
    const error = await failure(refreshWith(server, { timeoutMs: 300 }));
    expect(error.code).toBe('temporary');
  });

  it('reports an unreachable endpoint as temporary', async () => {
    const server = await startServer(() => undefined);
    await server.close();
    const error = await failure(refreshWith(server));
    expect(error.code).toBe('temporary');
    expect(error.message).toMatch(/Could not reach the token endpoint http:\/\/127\.0\.0\.1:\d+\/token \(ECONNREFUSED\)/);
    expectNoSecrets(error);
  });

  it.each([
    ['malformed JSON', 'text/plain', '{"access_token": "ya29.access-SECRET-token-value", '],
    ['a JSON array', 'application/json', JSON.stringify([ACCESS_TOKEN])],
    ['no access_token', 'application/json', JSON.stringify({ token_type: 'Bearer', expires_in: 3600 })],
    ['a non-Bearer token', 'application/json', JSON.stringify({ access_token: ACCESS_TOKEN, token_type: 'mac', expires_in: 3600 })],
    ['a bad expires_in', 'application/json', JSON.stringify({ access_token: ACCESS_TOKEN, expires_in: 'soon' })],
  ])('reports %s as protocol', async (_name, type, body) => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': type });
      res.end(body);
    });
    const error = await failure(refreshWith(server));
    expect(error.code).toBe('protocol');
    expect(error.message).toMatch(/token endpoint/);
    expectNoSecrets(error);
  });

  it('reports an oversized answer as protocol', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"padding":"${'x'.repeat(2 * 1024 * 1024)}"}`);
    });
    expect((await failure(refreshWith(server))).code).toBe('protocol');
  });

  it('does not follow redirects (which would re-send the secrets)', async () => {
    const elsewhere = await startServer((_req, res) => json(res, 200, { access_token: ACCESS_TOKEN }));
    const server = await startServer((_req, res) => {
      res.writeHead(307, { location: elsewhere.url }).end();
    });
    const error = await failure(refreshWith(server));
    expect(error.code).toBe('protocol');
    expect(error.message).toMatch(/redirect/);
    expect(elsewhere.requests).toHaveLength(0);
  });

  it('refuses plain-http token URLs other than localhost without sending anything', async () => {
    let called = false;
    const fetchImpl: typeof fetch = async () => {
      called = true;
      return new Response('{}');
    };
    const error = await failure(
      refreshAccessToken({ tokenUrl: 'http://auth.example.com/token', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, refreshToken: REFRESH_TOKEN, fetchImpl }),
    );
    expect(error.code).toBe('protocol');
    expect(error.message).toMatch(/must use https/);
    expect(called).toBe(false);
  });

  it('reports other OAuth refusals as protocol, with the provider error code', async () => {
    const server = await startServer((_req, res) => json(res, 400, { error: 'unsupported_grant_type', error_description: 'nope\n\u0007bell' }));
    const error = await failure(refreshWith(server));
    expect(error.code).toBe('protocol');
    expect(error.providerError).toBe('unsupported_grant_type');
    expect(error.message).toContain('unsupported_grant_type (nope bell)');
  });

  it('drops a provider error code that echoes a secret', async () => {
    const server = await startServer((_req, res) => json(res, 400, { error: REFRESH_TOKEN }));
    const error = await failure(refreshWith(server));
    expect(error.code).toBe('protocol');
    expect(error.providerError).toBeUndefined();
    expectNoSecrets(error);
  });

  it('uses an injected fetch', async () => {
    const fetchImpl: typeof fetch = async () => Response.json({ access_token: 'injected', expires_in: 60 });
    const tokens = await refreshAccessToken({ tokenUrl: 'https://token.example/t', clientId: CLIENT_ID, refreshToken: REFRESH_TOKEN, fetchImpl });
    expect(tokens.accessToken).toBe('injected');
  });
});

describe('accessTokenFor', () => {
  const now = new Date('2025-06-01T12:00:00Z');
  const fresh: OAuthTokens = { accessToken: 'new-token', expiresAt: new Date(now.getTime() + 3600_000) };

  it('reuses a token valid for more than 60 seconds', async () => {
    let calls = 0;
    const current = { accessToken: 'old-token', expiresAt: new Date(now.getTime() + 61_000) };
    const result = await accessTokenFor(current, async () => (calls++, fresh), now);
    expect(result).toEqual({ accessToken: 'old-token', expiresAt: current.expiresAt, refreshed: false });
    expect(calls).toBe(0);
  });

  it.each([
    ['expires in exactly 60 s', { accessToken: 'old-token', expiresAt: new Date(now.getTime() + 60_000) }],
    ['has expired', { accessToken: 'old-token', expiresAt: new Date(now.getTime() - 1) }],
    ['has no expiry', { accessToken: 'old-token', expiresAt: null }],
    ['is missing', { accessToken: null, expiresAt: new Date(now.getTime() + 3600_000) }],
    ['was never stored', {}],
  ])('refreshes when the token %s', async (_name, current) => {
    const result = await accessTokenFor(current, async () => fresh, now);
    expect(result).toEqual({ ...fresh, refreshed: true });
  });

  it('passes refresh errors through', async () => {
    const refresh = async (): Promise<OAuthTokens> => {
      throw new OAuthError('invalid_grant', 'revoked');
    };
    await expect(accessTokenFor({}, refresh, now)).rejects.toMatchObject({ code: 'invalid_grant' });
  });
});

describe('presets', () => {
  it('describes Google and Microsoft 365', () => {
    expect(GOOGLE_PRESET).toMatchObject({
      tokenUrl: 'https://oauth2.googleapis.com/token',
      scope: 'https://mail.google.com/',
      imap: { host: 'imap.gmail.com', port: 993 },
    });
    expect(microsoftPreset('contoso.onmicrosoft.com')).toMatchObject({
      tokenUrl: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token',
      authorizationUrl: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize',
      scope: 'https://outlook.office365.com/IMAP.AccessAsUser.All offline_access',
      imap: { host: 'outlook.office365.com', port: 993 },
    });
    expect(oauthPreset('microsoft').tokenUrl).toBe('https://login.microsoftonline.com/common/oauth2/v2.0/token');
    expect(oauthPreset('google', { tokenUrl: 'http://127.0.0.1:1/token' }).tokenUrl).toBe('http://127.0.0.1:1/token');
    expect(() => microsoftPreset('../evil?x=')).toThrow(TypeError);
  });
});

describe('authorization code flow with PKCE', () => {
  it('derives the S256 challenge from the verifier (RFC 7636 appendix B)', () => {
    expect(codeChallengeS256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
    const verifier = createCodeVerifier();
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(codeChallengeS256(verifier)).toBe(createHash('sha256').update(verifier).digest('base64url'));
    expect(createCodeVerifier()).not.toBe(verifier);
    expect(() => codeChallengeS256('too-short')).toThrow(TypeError);
  });

  it('builds the consent URL with state, S256 challenge and provider parameters', () => {
    const { url, state, codeVerifier } = buildAuthorizationUrl({
      ...GOOGLE_PRESET,
      clientId: CLIENT_ID,
      redirectUri: 'https://dmarc.example/oauth/callback',
      loginHint: 'reports@example.com',
      authorizationParams: { ...GOOGLE_PRESET.authorizationParams, client_id: 'attacker', code_challenge_method: 'plain' },
    });
    const parsed = new URL(url);
    expect(`${parsed.origin}${parsed.pathname}`).toBe(GOOGLE_PRESET.authorizationUrl);
    expect(Object.fromEntries(parsed.searchParams)).toEqual({
      access_type: 'offline',
      prompt: 'consent',
      client_id: CLIENT_ID,
      code_challenge_method: 'S256',
      response_type: 'code',
      redirect_uri: 'https://dmarc.example/oauth/callback',
      scope: 'https://mail.google.com/',
      state,
      code_challenge: codeChallengeS256(codeVerifier),
      login_hint: 'reports@example.com',
    });
    expect(state.length).toBeGreaterThanOrEqual(32);
    const again = buildAuthorizationUrl({ ...GOOGLE_PRESET, clientId: CLIENT_ID, redirectUri: 'https://dmarc.example/cb' });
    expect(again.state).not.toBe(state);
    expect(again.codeVerifier).not.toBe(codeVerifier);
  });

  it('exchanges the code against the token endpoint, which checks the PKCE verifier', async () => {
    const CODE = '4/0AUTH-CODE-SECRET';
    const redirectUri = 'http://127.0.0.1/callback';
    const { url, codeVerifier } = buildAuthorizationUrl({
      ...microsoftPreset(),
      clientId: CLIENT_ID,
      redirectUri,
    });
    const challenge = new URL(url).searchParams.get('code_challenge');

    // Stands in for the provider: it remembers the challenge from the consent request.
    const server = await startServer(({ form }, res) => {
      const verifier = form.get('code_verifier') ?? '';
      const ok =
        form.get('grant_type') === 'authorization_code' &&
        form.get('code') === CODE &&
        form.get('redirect_uri') === redirectUri &&
        createHash('sha256').update(verifier).digest('base64url') === challenge;
      if (!ok) return json(res, 400, { error: 'invalid_grant', error_description: `PKCE verification failed for code ${CODE} verifier ${verifier}` });
      json(res, 200, { access_token: ACCESS_TOKEN, refresh_token: REFRESH_TOKEN, expires_in: 3600, token_type: 'Bearer' });
    });

    const tokens = await exchangeAuthorizationCode({ tokenUrl: server.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, code: CODE, redirectUri, codeVerifier });
    expect(tokens).toMatchObject({ accessToken: ACCESS_TOKEN, refreshToken: REFRESH_TOKEN });
    expect(server.requests[0]!.form.get('client_secret')).toBe(CLIENT_SECRET);

    const wrongVerifier = createCodeVerifier();
    const error = await failure(
      exchangeAuthorizationCode({ tokenUrl: server.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, code: CODE, redirectUri, codeVerifier: wrongVerifier }),
    );
    expect(error.code).toBe('invalid_grant');
    expect(error.message).toMatch(/start connecting the mailbox again/);
    expectNoSecrets(error, [CODE, wrongVerifier]);
  });

  it('refuses a consent that yields no refresh token', async () => {
    const server = await startServer((_req, res) => json(res, 200, { access_token: ACCESS_TOKEN, expires_in: 3600 }));
    const error = await failure(
      exchangeAuthorizationCode({ tokenUrl: server.url, clientId: CLIENT_ID, code: 'c', redirectUri: 'http://127.0.0.1/cb', codeVerifier: createCodeVerifier() }),
    );
    expect(error.code).toBe('protocol');
    expect(error.message).toMatch(/did not issue a refresh token/);
    expectNoSecrets(error);
  });
});
