import { createHash } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { DB } from '../db/schema.js';
import { redact } from '../lib/logger.js';
import { canonicalJson } from './canonical-json.js';
import type { AuditInput } from './types.js';

/** The `prev_hash` of the first event of every chain. */
export const AUDIT_ZERO_HASH: Buffer = Buffer.alloc(32);

/** Largest summary stored, in bytes of canonical JSON; a bigger one is replaced by a note. */
export const AUDIT_SUMMARY_MAX_BYTES = 8 * 1024;

/** Containers nested deeper than this inside a summary are replaced by a marker. */
const SUMMARY_MAX_DEPTH = 8;

const REDACTED = '[redacted]';

/** `org:<id>` for an organisation, `instance` for instance-level events. The name outlives the organisation. */
export function auditChainName(orgId: number | null): string {
  if (orgId === null) return 'instance';
  if (!Number.isSafeInteger(orgId) || orgId <= 0) throw new TypeError(`audit: invalid organisation id ${String(orgId)}`);
  return `org:${orgId}`;
}

/** Every stored column of an event except org_id (not hashed: it is cleared when its organisation goes). */
export const AUDIT_EVENT_COLUMNS = [
  'id',
  'chain',
  'seq',
  'actor_type',
  'actor_id',
  'action',
  'target_type',
  'target_id',
  'summary',
  'ip',
  'created_at',
  'prev_hash',
  'hash',
] as const;

/** Every column that the hash covers, as stored and as read back. */
export interface HashedAuditFields {
  chain: string;
  seq: number;
  actor_type: string;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  summary: unknown;
  ip: string | null;
  created_at: Date;
}

/** sha256(prev_hash || canonical JSON of the event), with created_at as an ISO string in UTC to the millisecond. */
export function hashAuditEvent(prevHash: Uint8Array, event: HashedAuditFields): Buffer {
  const body = canonicalJson({
    chain: event.chain,
    seq: event.seq,
    actor_type: event.actor_type,
    actor_id: event.actor_id,
    action: event.action,
    target_type: event.target_type,
    target_id: event.target_id,
    summary: event.summary,
    ip: event.ip,
    created_at: event.created_at.toISOString(),
  });
  return createHash('sha256').update(prevHash).update(body, 'utf8').digest();
}

export interface RecordedAuditEvent {
  seq: number;
  /** Hex SHA-256 of the event: the new head of its chain. */
  hash: string;
}

/**
 * Appends an event to its organisation's chain. Call it inside the transaction that makes the change,
 * so the event commits or rolls back with it; given a plain `Kysely`, it opens a transaction of its own.
 *
 * Writers to one chain are serialised by a transaction-scoped advisory lock, held until the caller's
 * transaction ends: call this late in the transaction, after the change itself, to keep that short
 * (and to avoid lock-order deadlocks with rows locked afterwards). In a REPEATABLE READ or
 * SERIALIZABLE transaction that read before taking the lock, a concurrent append makes the insert
 * fail on the (chain, seq) unique constraint; retry the transaction as for a serialization failure.
 */
export async function recordAuditEvent(db: Kysely<DB> | Transaction<DB>, input: AuditInput): Promise<RecordedAuditEvent> {
  if (!db.isTransaction) return db.transaction().execute((trx) => append(trx, input));
  return append(db, input);
}

async function append(trx: Kysely<DB>, input: AuditInput): Promise<RecordedAuditEvent> {
  const chain = auditChainName(input.orgId);
  const action = wellFormed(input.action);
  if (action === '') throw new TypeError('audit: action is required');
  const actorType = input.actor.type;
  if (actorType !== 'user' && actorType !== 'api_key' && actorType !== 'system') {
    throw new TypeError(`audit: unknown actor type ${String(actorType)}`);
  }
  const fields = {
    actor_type: actorType,
    actor_id: input.actor.id === undefined ? null : wellFormed(String(input.actor.id)),
    action,
    target_type: input.target ? wellFormed(input.target.type) : null,
    target_id: input.target ? wellFormed(String(input.target.id)) : null,
    summary: sanitizeAuditSummary(input.summary),
    ip: input.ip ? wellFormed(input.ip) : null,
  };

  await sql`select pg_advisory_xact_lock(hashtextextended(${chain}, 0))`.execute(trx);
  const last = await trx
    .selectFrom('audit_event')
    .select(['seq', 'hash'])
    .where('chain', '=', chain)
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  const seq = last ? Number(last.seq) + 1 : 1;
  const prevHash = last ? Buffer.from(last.hash) : AUDIT_ZERO_HASH;
  // Taken here rather than with now(): a Date (whole milliseconds) reads back from timestamptz exactly,
  // whereas now() has microseconds that the ISO string in the hash would drop.
  const createdAt = new Date();
  const hash = hashAuditEvent(prevHash, { chain, seq, ...fields, created_at: createdAt });

  await trx
    .insertInto('audit_event')
    .values({
      org_id: input.orgId,
      chain,
      seq,
      ...fields,
      summary: sql`cast(${canonicalJson(fields.summary)} as jsonb)`,
      created_at: createdAt,
      prev_hash: prevHash,
      hash,
    })
    .execute();
  return { seq, hash: hash.toString('hex') };
}

/**
 * The summary as it is stored: plain JSON that reads back from jsonb unchanged (so its hash still
 * matches), values under secret-looking keys replaced by "[redacted]", at most
 * AUDIT_SUMMARY_MAX_BYTES (a bigger one becomes a note listing its top-level keys).
 */
export function sanitizeAuditSummary(summary: Record<string, unknown> | undefined): Record<string, unknown> {
  if (summary === undefined || summary === null) return {};
  const clean = toJson(summary, '', 0, new Set());
  const object: Record<string, unknown> =
    clean !== null && typeof clean === 'object' && !Array.isArray(clean) ? (clean as Record<string, unknown>) : { value: clean ?? null };
  const bytes = Buffer.byteLength(canonicalJson(object), 'utf8');
  if (bytes <= AUDIT_SUMMARY_MAX_BYTES) return object;
  return {
    omitted: `summary of ${bytes} bytes exceeds the ${AUDIT_SUMMARY_MAX_BYTES}-byte limit`,
    keys: Object.keys(object)
      .sort()
      .slice(0, 32)
      .map((key) => key.slice(0, 64)),
  };
}

// logger.ts keeps its secret-key pattern private; probing `redact` applies exactly the same rule
// at any depth (redact itself stops looking below a fixed nesting depth).
function isSecretKey(key: string): boolean {
  return (redact({ [key]: 0 }) as Record<string, unknown>)[key] !== 0;
}

/** JSON.stringify's view of a value (toJSON, undefined dropped, non-finite → null), with strings made storable. */
function toJson(value: unknown, key: string, depth: number, ancestors: Set<object>): unknown {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON(key: string): unknown }).toJSON(key);
  }
  switch (typeof value) {
    case 'string':
      return wellFormed(value);
    case 'number':
      // -0 reads back from jsonb as 0.
      return Number.isFinite(value) ? (Object.is(value, -0) ? 0 : value) : null;
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'object':
      break;
    default:
      return undefined;
  }
  if (value === null) return null;
  if (ancestors.has(value)) return '[circular]';
  if (depth >= SUMMARY_MAX_DEPTH) return '[nested too deep]';
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      return value.map((item, i) => toJson(item, String(i), depth + 1, ancestors) ?? null);
    }
    const out: Record<string, unknown> = {};
    for (const [rawKey, inner] of Object.entries(value)) {
      // Assigning "__proto__" would set the prototype instead of a key; jsonb would then read back a key we never hashed.
      if (rawKey === '__proto__') continue;
      const name = wellFormed(rawKey);
      if (isSecretKey(name)) {
        out[name] = REDACTED;
        continue;
      }
      const json = toJson(inner, name, depth + 1, ancestors);
      if (json !== undefined) out[name] = json;
    }
    return out;
  } finally {
    ancestors.delete(value);
  }
}

/**
 * PostgreSQL text and jsonb cannot hold NUL, and lone UTF-16 surrogates come back as U+FFFD (or are
 * refused by jsonb): replace both up front so what is hashed is what is read back.
 */
function wellFormed(text: string): string {
  return text.replaceAll('\u0000', '\uFFFD').replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}
