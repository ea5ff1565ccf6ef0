import {
  connectionLost,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_SOCKET_TIMEOUT_MS,
  MailConnectionError,
  serverAddress,
  timeoutError,
  transportError,
  type MailAuth,
  type MailServerSettings,
} from '../mail-server.js';

/** The fields imapflow 2.1 puts on the errors it throws or emits. */
export interface ImapFlowErrorLike {
  message?: string;
  code?: string;
  tlsFailed?: boolean;
  authenticationFailed?: boolean;
  responseStatus?: string;
  responseText?: string;
  serverResponseCode?: string;
  response?: unknown;
  mailboxMissing?: boolean;
  oauthError?: { status?: string | number; schemes?: string; scope?: string } | false;
  reason?: string;
  _err?: unknown;
}

const LOST_CONNECTION = new Set(['NoConnection', 'EConnectionClosed', 'StateLogout', 'ClosedAfterConnectText', 'ClosedAfterConnectTLS']);
const TIMEOUTS = new Set(['CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT', 'ETIMEOUT']);
const MALFORMED = new Set(['LineTooLarge', 'LiteralTooLarge', 'ResponseTooLarge', 'InvalidResponse', 'UnexpectedTag', 'ResponseProcessingFailed']);

export interface FailureContext {
  settings: MailServerSettings;
  auth: MailAuth['method'];
  username: string;
  /** The connection's own failure, from its `error` event, which explains a later "connection not available". */
  connectionFailure: unknown;
}

function serverSaid(e: ImapFlowErrorLike): string {
  const text = e.responseText ?? (typeof e.response === 'string' ? e.response : '');
  return text ? ` (the server said: "${text.slice(0, 300)}")` : '';
}

function oauthFailure(e: ImapFlowErrorLike, ctx: FailureContext): MailConnectionError {
  const where = serverAddress(ctx.settings);
  const status = e.oauthError ? String(e.oauthError.status ?? '') : '';
  if (status === '400' || status === 'invalid_request') {
    return new MailConnectionError(
      'auth_failed',
      `The IMAP server ${where} refused the OAuth2 login for ${ctx.username} as malformed (status ${status})${serverSaid(e)}. ` +
        'Check that the username is the account the token was issued for.',
    );
  }
  if (status === '403' || status === 'insufficient_scope') {
    return new MailConnectionError(
      'auth_failed',
      `The IMAP server ${where} accepted the OAuth2 token but it does not grant mail access (status ${status})${serverSaid(e)}. ` +
        'Authorize the mailbox again with the IMAP/mail scope.',
    );
  }
  return new MailConnectionError(
    'oauth_expired',
    `The IMAP server ${where} rejected the OAuth2 access token for ${ctx.username} as invalid or expired` +
      `${status ? ` (status ${status})` : ''}${serverSaid(e)}. Sign in to the mail provider again to reauthorize the mailbox.`,
  );
}

/** Any failure of an IMAP connection or command, as a MailConnectionError a person can act on. */
export function describeImapFailure(error: unknown, ctx: FailureContext): MailConnectionError {
  if (error instanceof MailConnectionError) return error;
  const { settings } = ctx;
  const where = serverAddress(settings);
  const e = (error ?? {}) as ImapFlowErrorLike;
  const code = e.code ?? '';
  const message = e.message ?? String(error);

  if (e.tlsFailed && /does not support STARTTLS/i.test(message)) {
    return new MailConnectionError(
      'tls_required',
      `The IMAP server ${where} does not offer STARTTLS, so the connection cannot be encrypted and no credentials were sent. ` +
        'Use the server\'s implicit TLS port (usually 993) or enable TLS on the server.',
    );
  }
  if (message === 'Unsupported authentication mechanism' || message === 'No matching authentication method') {
    return new MailConnectionError(
      'auth_failed',
      ctx.auth === 'oauth2'
        ? `The IMAP server ${where} does not offer OAuth2 login (AUTH=XOAUTH2 or AUTH=OAUTHBEARER); use a password instead.`
        : `The IMAP server ${where} offers no password login method this client supports.`,
    );
  }
  if (message === 'Login is disabled') {
    return new MailConnectionError('auth_failed', `The IMAP server ${where} has disabled password login (LOGINDISABLED).`);
  }
  if (e.authenticationFailed) {
    if (e.serverResponseCode === 'UNAVAILABLE') {
      return new MailConnectionError('connect_failed', `The IMAP server ${where} cannot log in right now${serverSaid(e)}; it will be retried.`);
    }
    if (ctx.auth === 'oauth2') return oauthFailure(e, ctx);
    return new MailConnectionError(
      'auth_failed',
      `The IMAP server ${where} rejected the username or password for ${ctx.username}${serverSaid(e)}. ` +
        'Check the credentials; some providers require an app password for IMAP.',
    );
  }
  if (TIMEOUTS.has(code)) {
    if (code === 'ETIMEOUT') return timeoutError(settings, 'IMAP', settings.socketTimeoutMs ?? DEFAULT_SOCKET_TIMEOUT_MS, 'a command');
    const what = code === 'GREETING_TIMEOUT' ? 'with a greeting' : code === 'UPGRADE_TIMEOUT' ? 'the STARTTLS handshake' : 'the connection';
    return timeoutError(settings, 'IMAP', settings.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, what);
  }
  if (code === 'STARTTLS_INJECTION') {
    return new MailConnectionError('tls_failed', `The IMAP server ${where} sent unencrypted data during the STARTTLS upgrade; the connection was dropped.`);
  }
  const transport = transportError(error, settings, 'IMAP') ?? (e._err ? transportError(e._err, settings, 'IMAP') : null);
  if (transport) return transport;
  if (LOST_CONNECTION.has(code)) {
    if (ctx.connectionFailure && ctx.connectionFailure !== error) return describeImapFailure(ctx.connectionFailure, { ...ctx, connectionFailure: null });
    return connectionLost(settings, 'IMAP', e.reason);
  }
  if (e.tlsFailed) {
    return new MailConnectionError('tls_failed', `The STARTTLS upgrade with the IMAP server ${where} failed (${code || message}).`);
  }
  if (MALFORMED.has(code) || code.startsWith('ParserError')) {
    return new MailConnectionError('protocol', `The IMAP server ${where} sent a response that could not be read (${code}).`);
  }
  if (e.responseStatus) {
    return new MailConnectionError('protocol', `The IMAP server ${where} refused a command: ${e.responseStatus}${serverSaid(e)}.`);
  }
  return new MailConnectionError('protocol', `The IMAP server ${where} answered unexpectedly: ${message}`);
}
