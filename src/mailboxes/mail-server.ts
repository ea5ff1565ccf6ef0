export interface MailServerSettings {
  host: string;
  port: number;
  tls: 'implicit' | 'starttls';
  /** PEM of a private CA to trust in addition to the system's; verification is never turned off. */
  caPem?: string | null;
  connectTimeoutMs?: number;
  socketTimeoutMs?: number;
}

export type MailAuth =
  | { method: 'password'; username: string; password: string }
  | { method: 'oauth2'; username: string; accessToken: string };

export type MailErrorCode =
  | 'tls_required'
  | 'tls_failed'
  | 'certificate'
  | 'auth_failed'
  | 'oauth_expired'
  | 'connect_failed'
  | 'timeout'
  | 'folder_missing'
  | 'protocol';

/** A mail server problem in words: what happened and what to do. Never carries credentials. */
export class MailConnectionError extends Error {
  constructor(
    readonly code: MailErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'MailConnectionError';
  }
}

const CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

/** Maps socket and TLS failures to a MailConnectionError a person can act on. */
export function connectionFailure(error: unknown, settings: MailServerSettings, protocol: 'IMAP' | 'POP3'): MailConnectionError {
  if (error instanceof MailConnectionError) return error;
  const e = error as NodeJS.ErrnoException & { reason?: string };
  const where = `${settings.host}:${settings.port}`;
  const code = e?.code ?? '';
  if (CERT_CODES.has(code)) {
    return new MailConnectionError(
      'certificate',
      `The ${protocol} server ${where} presented a certificate that could not be verified (${code}${e.reason ? `: ${e.reason}` : ''}). ` +
        'Check the host name; for a private server, configure the CA certificate that signed it. Verification is never turned off.',
    );
  }
  if (code === 'ECONNREFUSED') {
    return new MailConnectionError('connect_failed', `Nothing is listening on ${where}: check the host and port (IMAP over TLS is usually 993, POP3 995).`);
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new MailConnectionError('connect_failed', `The host name ${settings.host} could not be resolved.`);
  }
  if (/TIMEOUT|ETIMEDOUT/.test(code)) {
    return new MailConnectionError('timeout', `The ${protocol} server ${where} stopped answering (${code}); it will be retried.`);
  }
  const message = e instanceof Error ? e.message : String(error);
  if (/wrong version number|packet length too long|unknown protocol|EPROTO|ssl3_get_record|tls/i.test(`${code} ${message}`)) {
    return new MailConnectionError(
      'tls_failed',
      `The TLS handshake with ${where} failed (${message}). If this port speaks plain text first, choose STARTTLS; otherwise use the server's TLS port.`,
    );
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || /closed|ended/i.test(message)) {
    return new MailConnectionError('connect_failed', `The ${protocol} server ${where} closed the connection unexpectedly (${message}); it will be retried.`);
  }
  return new MailConnectionError('protocol', `The ${protocol} server ${where} answered unexpectedly: ${message}`);
}
