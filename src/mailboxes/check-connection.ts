import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Keyring } from '../lib/crypto/index.js';
import { mailboxAuth } from './credentials.js';
import { testImap } from './imap/index.js';
import { MailConnectionError } from './mail-server.js';
import { mailServerSettings, type MailboxRow } from './manage.js';
import { OAuthError } from './oauth2.js';
import { testPop3 } from './pop3/index.js';

export interface ConnectionCheck {
  ok: true;
  /** What was verified, in words. */
  detail: string;
  messages: number;
}

/** Checks TLS, login and folder without fetching or changing anything. Throws MailConnectionError/OAuthError. */
export async function checkMailboxConnection(
  db: Kysely<DB>,
  keyring: Keyring,
  row: MailboxRow,
  options: { fetchImpl?: typeof fetch } = {},
): Promise<ConnectionCheck> {
  const settings = mailServerSettings(row);
  const auth = await mailboxAuth(db, keyring, row, options);
  if (row.protocol === 'pop3') {
    const result = await testPop3(settings, auth);
    return { ok: true, detail: `TLS verified, logged in as ${row.username}, ${result.messages} message(s) on the server`, messages: result.messages };
  }
  const result = await testImap(settings, auth, row.folder);
  return {
    ok: true,
    detail: `TLS verified, logged in as ${row.username}, folder "${result.folder}" has ${result.messages} message(s)`,
    messages: result.messages,
  };
}

/** The outcome of a connection check, passed or failed: `problem` says what went wrong and what to do. */
export interface ConnectionVerdict {
  ok: boolean;
  detail: string | null;
  messages: number | null;
  code: string | null;
  problem: string | null;
}

/** checkMailboxConnection with the server's and the OAuth provider's refusals as an answer rather than an error. */
export async function testMailboxConnection(db: Kysely<DB>, keyring: Keyring, row: MailboxRow): Promise<ConnectionVerdict> {
  try {
    const result = await checkMailboxConnection(db, keyring, row);
    return { ok: true, detail: result.detail, messages: result.messages, code: null, problem: null };
  } catch (error) {
    if (error instanceof MailConnectionError || error instanceof OAuthError) return { ok: false, detail: null, messages: null, code: error.code, problem: error.message };
    throw error;
  }
}
