import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

export interface MailServerSettings {
  host: string;
  port: number;
  /** Implicit TLS from the first byte, or a plaintext greeting that must be upgraded with STARTTLS/STLS. */
  tls: 'implicit' | 'starttls';
  /** PEM of a private CA trusted in addition to the public roots. Verification is never turned off. */
  caPem?: string | null;
  /** TCP connect, TLS handshake and greeting. */
  connectTimeoutMs?: number;
  /** Longest silence from the server while it owes an answer. */
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
  readonly code: MailErrorCode;

  constructor(code: MailErrorCode, message: string) {
    super(message);
    this.name = 'MailConnectionError';
    this.code = code;
  }
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
export const DEFAULT_SOCKET_TIMEOUT_MS = 120_000;

export type MailProtocol = 'IMAP' | 'POP3';

/** The host to dial: a bracketed IPv6 literal from the settings loses its brackets. */
export function dialHost(settings: MailServerSettings): string {
  const match = /^\[(.+)\]$/.exec(settings.host);
  return match ? match[1]! : settings.host;
}

export function serverAddress(settings: MailServerSettings): string {
  return `${settings.host}:${settings.port}`;
}

/** Rejects settings no connection could be made with, before anything is dialled. */
export function checkSettings(settings: MailServerSettings, protocol: MailProtocol): void {
  if (settings.tls !== 'implicit' && settings.tls !== 'starttls') {
    throw new MailConnectionError(
      'tls_required',
      `${protocol} connections must use TLS (implicit, or ${protocol === 'IMAP' ? 'STARTTLS' : 'STLS'}); "${String(settings.tls)}" is not allowed.`,
    );
  }
  if (!dialHost(settings) || !Number.isInteger(settings.port) || settings.port < 1 || settings.port > 65535) {
    throw new MailConnectionError('connect_failed', `"${settings.host}:${settings.port}" is not a valid ${protocol} server address.`);
  }
  if (settings.caPem) {
    const blocks = settings.caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    const readable = blocks.filter((block) => {
      try {
        new X509Certificate(block);
        return true;
      } catch {
        return false;
      }
    });
    if (!readable.length || readable.length !== blocks.length) {
      throw new MailConnectionError('certificate', 'The CA certificate configured for this mailbox is not a readable PEM certificate; paste it again, including the BEGIN and END lines.');
    }
  }
}

/**
 * TLS options for every connection: the certificate chain and the host name are always verified.
 * A configured CA is added to the public roots rather than replacing them.
 */
export function tlsOptions(settings: MailServerSettings): tls.ConnectionOptions {
  const host = dialHost(settings);
  return {
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    ...(settings.caPem ? { ca: [...tls.rootCertificates, settings.caPem] } : {}),
    // SNI only carries DNS names; an IP literal is checked against the certificate's IP entries.
    ...(net.isIP(host) ? {} : { servername: host }),
  };
}

const CERTIFICATE_REASONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'it is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'its chain ends in a self-signed certificate that is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'it was issued by an authority that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT: 'it was issued by an authority that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'it was issued by an authority that is not trusted',
  CERT_UNTRUSTED: 'it was issued by an authority that is not trusted',
  CERT_REJECTED: 'it was rejected',
  INVALID_CA: 'its chain contains an invalid CA certificate',
  INVALID_PURPOSE: 'it is not meant for a TLS server',
  CERT_HAS_EXPIRED: 'it has expired',
  CERT_NOT_YET_VALID: 'it is not valid yet',
  CERT_REVOKED: 'it has been revoked',
  CERT_SIGNATURE_FAILURE: 'its signature is invalid',
  CERT_CHAIN_TOO_LONG: 'its chain is too long',
  PATH_LENGTH_EXCEEDED: 'its chain is too long',
  UNABLE_TO_DECRYPT_CERT_SIGNATURE: 'its signature is invalid',
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: 'its issuer key is unreadable',
  ERROR_IN_CERT_NOT_BEFORE_FIELD: 'its validity dates are malformed',
  ERROR_IN_CERT_NOT_AFTER_FIELD: 'its validity dates are malformed',
  HOSTNAME_MISMATCH: 'it is not valid for this host name',
  ERR_TLS_CERT_ALTNAME_INVALID: 'it is not valid for this host name',
};

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function certificateError(settings: MailServerSettings, protocol: MailProtocol, error: unknown): MailConnectionError {
  const code = errorCode(error);
  const reason = CERTIFICATE_REASONS[code] ?? 'it could not be verified';
  const detail = code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? errorText(error) : code;
  const advice = settings.caPem
    ? 'The CA certificate configured for this mailbox did not make it valid: check that it is the CA that signed the server certificate and that the host name is the one on the certificate.'
    : 'Check that the host name is the one on the server certificate. A private server whose certificate comes from its own ' +
      'certificate authority can be trusted by adding that CA certificate (PEM) to the mailbox settings.';
  return new MailConnectionError(
    'certificate',
    `The ${protocol} server ${serverAddress(settings)} presented a TLS certificate that was refused: ${reason} (${detail}). ${advice} Verification is never switched off.`,
  );
}

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}

export function timeoutError(settings: MailServerSettings, protocol: MailProtocol, ms: number, what: string): MailConnectionError {
  return new MailConnectionError('timeout', `The ${protocol} server ${serverAddress(settings)} did not answer ${what} within ${duration(ms)}; it will be retried.`);
}

export function connectionLost(settings: MailServerSettings, protocol: MailProtocol, detail?: string): MailConnectionError {
  return new MailConnectionError(
    'connect_failed',
    `The connection to the ${protocol} server ${serverAddress(settings)} was lost${detail ? ` (${detail})` : ''}; it will be retried.`,
  );
}

/**
 * Socket, DNS and TLS failures as a MailConnectionError a person can act on; null when the error
 * is not one of those.
 */
export function transportError(error: unknown, settings: MailServerSettings, protocol: MailProtocol): MailConnectionError | null {
  if (error instanceof MailConnectionError) return error;
  const code = errorCode(error);
  const where = serverAddress(settings);
  if (code in CERTIFICATE_REASONS) return certificateError(settings, protocol, error);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
    return new MailConnectionError('connect_failed', `The host name ${settings.host} could not be resolved (${code}); check the server name.`);
  }
  if (code === 'ECONNREFUSED') {
    return new MailConnectionError(
      'connect_failed',
      `Nothing is listening on ${where}, the connection was refused: check the host and port ` +
        `(${protocol === 'IMAP' ? 'IMAP over TLS is usually 993, STARTTLS 143' : 'POP3 over TLS is usually 995, STLS 110'}).`,
    );
  }
  if (NETWORK_CODES.has(code)) return connectionLost(settings, protocol, code);
  if (code === 'ETIMEDOUT') {
    return new MailConnectionError('timeout', `The ${protocol} server ${where} could not be reached in time (ETIMEDOUT); it will be retried.`);
  }
  const text = errorText(error);
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|wrong version number|packet length too long|unknown protocol/i.test(`${code} ${text}`)) {
    return new MailConnectionError(
      'tls_failed',
      `The ${protocol} server ${where} did not answer with TLS. The port may expect a plaintext greeting followed by ` +
        `${protocol === 'IMAP' ? 'STARTTLS' : 'STLS'} (choose that mode), or the server may not offer TLS on it at all.`,
    );
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO' || /SSL routines|TLS/i.test(text)) {
    return new MailConnectionError('tls_failed', `The TLS handshake with the ${protocol} server ${where} failed (${code || text}).`);
  }
  return null;
}
