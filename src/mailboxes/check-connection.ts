import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Keyring } from '../lib/crypto/index.js';
import { mailboxAuth } from './credentials.js';
import { testImap } from './imap/index.js';
import { mailServerSettings, type MailboxRow } from './manage.js';
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
