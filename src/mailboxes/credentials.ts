import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { open, type Keyring } from '../lib/crypto/index.js';
import { sealMailboxSecret, type MailboxRow, type SecretColumn } from './manage.js';
import { accessTokenFor, refreshAccessToken } from './oauth2.js';
import type { MailAuth } from './mail-server.js';

export function openMailboxSecret(keyring: Keyring, row: MailboxRow, column: SecretColumn): string | null {
  const sealed = row[column];
  return sealed ? open(keyring, sealed, { table: 'mailbox', column, rowId: row.id }) : null;
}

/**
 * The credentials to log in with. For OAuth2, a still-valid access token is reused; otherwise it
 * is refreshed and the new tokens are sealed and saved at once (a rotated refresh token replaces
 * the old one, which the provider may already have revoked). OAuthError propagates to the caller.
 */
export async function mailboxAuth(
  db: Kysely<DB>,
  keyring: Keyring,
  row: MailboxRow,
  options: { fetchImpl?: typeof fetch; now?: Date } = {},
): Promise<MailAuth> {
  if (row.auth_method === 'password') {
    return { method: 'password', username: row.username, password: openMailboxSecret(keyring, row, 'password_sealed') ?? '' };
  }
  const tokens = await accessTokenFor(
    { accessToken: openMailboxSecret(keyring, row, 'oauth_access_token_sealed'), expiresAt: row.oauth_access_expires_at },
    () =>
      refreshAccessToken({
        tokenUrl: row.oauth_token_url ?? '',
        clientId: row.oauth_client_id ?? '',
        clientSecret: openMailboxSecret(keyring, row, 'oauth_client_secret_sealed'),
        refreshToken: openMailboxSecret(keyring, row, 'oauth_refresh_token_sealed') ?? '',
        scope: row.oauth_scope ?? undefined,
        fetchImpl: options.fetchImpl,
      }),
    options.now,
  );
  if (tokens.refreshed) {
    await db
      .updateTable('mailbox')
      .set({
        oauth_access_token_sealed: sealMailboxSecret(keyring, row.id, 'oauth_access_token_sealed', tokens.accessToken),
        oauth_access_expires_at: tokens.expiresAt,
        ...(tokens.refreshToken && {
          oauth_refresh_token_sealed: sealMailboxSecret(keyring, row.id, 'oauth_refresh_token_sealed', tokens.refreshToken),
        }),
        updated_at: sql<Date>`now()`,
      })
      .where('id', '=', row.id)
      .execute();
  }
  return { method: 'oauth2', username: row.username, accessToken: tokens.accessToken };
}
