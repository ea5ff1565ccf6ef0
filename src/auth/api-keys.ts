import { sql, type Kysely } from 'kysely';
import { recordAuditEvent } from '../audit/record.js';
import type { AuditInput } from '../audit/types.js';
import { orderedAfter, rankOf, toMillisecond, type ListOrder, type SortCursor, type SortKey } from '../db/keyset.js';
import type { DB } from '../db/schema.js';
import { hashToken, randomToken } from '../lib/crypto/index.js';
import { SCOPE_RANK, type ApiScope } from './roles.js';

export const API_KEY_PREFIX = 'dmw_';
/** Characters of a key kept in clear to tell keys apart: the prefix and 4 random characters (24 bits). */
const SHOWN_PREFIX_LENGTH = API_KEY_PREFIX.length + 4;
/** `dmw_` + 32 random bytes in base64url. */
const API_KEY_PATTERN = /^dmw_[A-Za-z0-9_-]{43}$/;
/** last_used_at is written at most this often per key, not on every request. */
const LAST_USED_INTERVAL_MS = 60_000;

export interface ApiKeySummary {
  id: number;
  name: string;
  prefix: string;
  scope: ApiScope;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export interface ResolvedApiKey {
  apiKeyId: number;
  orgId: number;
  orgSlug: string;
  scope: ApiScope;
}

interface ChangeContext {
  orgId: number;
  actor: AuditInput['actor'];
  ip: string | null;
  now: Date;
}

/** A new key: the whole key is returned this once; only its SHA-256 is stored. */
export async function createApiKey(
  db: Kysely<DB>,
  input: ChangeContext & { name: string; scope: ApiScope; expiresAt: Date | null },
): Promise<{ key: string; summary: ApiKeySummary }> {
  const key = randomToken(API_KEY_PREFIX, 32);
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('api_key')
      .values({
        org_id: input.orgId,
        name: input.name,
        prefix: key.slice(0, SHOWN_PREFIX_LENGTH),
        token_hash: hashToken(key),
        scope: input.scope,
        created_by: input.actor.type === 'user' ? input.actor.id : null,
        created_at: input.now,
        expires_at: input.expiresAt,
      })
      .returning(['id', 'name', 'prefix', 'scope', 'created_at', 'expires_at', 'last_used_at', 'revoked_at'])
      .executeTakeFirstOrThrow();
    await recordAuditEvent(trx, {
      orgId: input.orgId,
      actor: input.actor,
      action: 'api_key.create',
      target: { type: 'api_key', id: row.id },
      summary: { name: input.name, scope: input.scope, prefix: row.prefix, expiresAt: input.expiresAt?.toISOString() ?? null },
      ip: input.ip,
    });
    return { key, summary: toSummary(row) };
  });
}

interface KeyRow {
  id: number;
  name: string;
  prefix: string;
  scope: string;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

function toSummary(row: KeyRow): ApiKeySummary {
  const date = (value: Date | null) => (value === null ? null : new Date(value));
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scope: row.scope as ApiScope,
    createdAt: new Date(row.created_at),
    expiresAt: date(row.expires_at),
    lastUsedAt: date(row.last_used_at),
    revokedAt: date(row.revoked_at),
  };
}

/** Whether a key works now, as the keys list says and sorts it. */
export type ApiKeyState = 'active' | 'expired' | 'revoked';
const STATE_RANK: Record<ApiKeyState, number> = { active: 0, expired: 1, revoked: 2 };

export function apiKeyState(key: Pick<ApiKeySummary, 'expiresAt' | 'revokedAt'>, now: Date): ApiKeyState {
  return key.revokedAt ? 'revoked' : key.expiresAt && key.expiresAt <= now ? 'expired' : 'active';
}

export type ApiKeySort = 'name' | 'prefix' | 'scope' | 'created' | 'lastUsed' | 'expires' | 'state';

/** What the keys list can be sorted by (the page's column keys) at a moment (`state` depends on it); newest first by default. */
export function apiKeySort(now: Date): Record<ApiKeySort, SortKey<ApiKeySummary>> {
  return {
    name: { sql: sql.ref('name'), type: 'text', of: (k) => k.name },
    prefix: { sql: sql.ref('prefix'), type: 'text', of: (k) => k.prefix },
    scope: { sql: rankOf(sql.ref('scope'), SCOPE_RANK), type: 'number', of: (k) => SCOPE_RANK[k.scope] },
    created: { sql: toMillisecond(sql.ref('created_at')), type: 'time', of: (k) => k.createdAt },
    lastUsed: { sql: toMillisecond(sql.ref('last_used_at')), type: 'time', nullable: true, of: (k) => k.lastUsedAt },
    expires: { sql: toMillisecond(sql.ref('expires_at')), type: 'time', nullable: true, of: (k) => k.expiresAt },
    state: {
      sql: sql`case when revoked_at is not null then ${sql.lit(STATE_RANK.revoked)} when expires_at <= ${now} then ${sql.lit(STATE_RANK.expired)} else ${sql.lit(STATE_RANK.active)} end`,
      type: 'number',
      of: (k) => STATE_RANK[apiKeyState(k, now)],
    },
  };
}

/** The organisation's keys, revoked ones included (they say so), after the cursor's (sort value, id): newest first unless another order is asked for. */
export async function listApiKeys(db: Kysely<DB>, orgId: number, page: { limit: number; after: SortCursor | null; order?: ListOrder<ApiKeySort>; now?: Date }): Promise<ApiKeySummary[]> {
  const order = page.order ?? { by: 'created', dir: 'desc' };
  const query = db
    .selectFrom('api_key')
    .select(['id', 'name', 'prefix', 'scope', 'created_at', 'expires_at', 'last_used_at', 'revoked_at'])
    .where('org_id', '=', orgId);
  const key = apiKeySort(page.now ?? new Date())[order.by];
  const rows = await orderedAfter(query, key, order.dir, sql.ref('id'), page.after).limit(page.limit).execute();
  return rows.map(toSummary);
}

/** Revokes a key of the organisation; false when it has no such key or it was already revoked. */
export async function revokeApiKey(db: Kysely<DB>, input: ChangeContext & { apiKeyId: number }): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('api_key')
      .set({ revoked_at: input.now })
      .where('id', '=', input.apiKeyId)
      .where('org_id', '=', input.orgId)
      .where('revoked_at', 'is', null)
      .returning(['id', 'name', 'prefix'])
      .executeTakeFirst();
    if (!row) return false;
    forgetApiKey(row.id);
    await recordAuditEvent(trx, {
      orgId: input.orgId,
      actor: input.actor,
      action: 'api_key.revoke',
      target: { type: 'api_key', id: row.id },
      summary: { name: row.name, prefix: row.prefix },
      ip: input.ip,
    });
    return true;
  });
}

/**
 * Keys found valid in the last second, by token hash: a script paging through a list sends the same
 * key many times a second, and each lookup was a third of an API read's database work. Revoking a
 * key here forgets it at once; another replica may accept it for up to a second more. Expiry is
 * checked on every use. Unknown tokens are never cached.
 */
const RECENTLY_VALID_MS = 1000;
const RECENTLY_VALID_MAX = 10_000;
const recentlyValid = new Map<string, { key: ResolvedApiKey; expiresAt: Date | null; lastUsedAt: number; until: number }>();

function forgetApiKey(apiKeyId: number): void {
  for (const [hash, entry] of recentlyValid) if (entry.key.apiKeyId === apiKeyId) recentlyValid.delete(hash);
}

/** The key a bearer token names, if it is well formed, unrevoked and unexpired. */
export async function resolveApiKey(db: Kysely<DB>, token: string, now: Date): Promise<ResolvedApiKey | null> {
  if (!API_KEY_PATTERN.test(token)) return null;
  const tokenHash = hashToken(token);
  const cacheKey = Buffer.from(tokenHash).toString('base64');
  const cached = recentlyValid.get(cacheKey);
  if (cached && cached.until > performance.now() && (cached.expiresAt === null || cached.expiresAt > now) && now.getTime() - cached.lastUsedAt < LAST_USED_INTERVAL_MS) {
    return cached.key;
  }
  const row = await db
    .selectFrom('api_key as k')
    .innerJoin('organization as o', 'o.id', 'k.org_id')
    .select(['k.id', 'k.org_id', 'k.scope', 'k.last_used_at', 'k.expires_at', 'o.slug'])
    .where('k.token_hash', '=', tokenHash)
    .where('k.revoked_at', 'is', null)
    .where((eb) => eb.or([eb('k.expires_at', 'is', null), eb('k.expires_at', '>', now)]))
    .executeTakeFirst();
  if (!row) {
    recentlyValid.delete(cacheKey);
    return null;
  }
  let lastUsed = row.last_used_at === null ? 0 : new Date(row.last_used_at).getTime();
  if (now.getTime() - lastUsed >= LAST_USED_INTERVAL_MS) {
    await db.updateTable('api_key').set({ last_used_at: now }).where('id', '=', row.id).execute();
    lastUsed = now.getTime();
  }
  const key: ResolvedApiKey = { apiKeyId: row.id, orgId: row.org_id, orgSlug: row.slug, scope: row.scope as ApiScope };
  if (recentlyValid.size >= RECENTLY_VALID_MAX) recentlyValid.clear();
  recentlyValid.set(cacheKey, { key, expiresAt: row.expires_at === null ? null : new Date(row.expires_at), lastUsedAt: lastUsed, until: performance.now() + RECENTLY_VALID_MS });
  return key;
}
