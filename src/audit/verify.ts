import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { AUDIT_EVENT_COLUMNS, AUDIT_ZERO_HASH, hashAuditEvent, type HashedAuditFields } from './record.js';

/** The last event of a chain: record it somewhere else (or keep an export) to detect truncation later. */
export interface AuditChainHead {
  seq: number;
  /** Hex SHA-256. */
  hash: string;
}

/**
 * - `wrong_start`: the chain does not begin at seq 1 from the zero hash.
 * - `deleted`: a seq is missing.
 * - `inserted`: an event was added between two others (a later event links past it).
 * - `reordered`: events were renumbered (an event links to one that comes after it).
 * - `edited`: an event's content no longer matches its hash, or was re-hashed after a change.
 * - `truncated`: the chain ends before the anchor's seq.
 * - `rewritten`: the event at the anchor's seq has another hash than the anchor.
 */
export type AuditProblemKind = 'wrong_start' | 'deleted' | 'inserted' | 'reordered' | 'edited' | 'truncated' | 'rewritten';

export interface AuditBadEvent {
  /** The first position in the chain that does not verify. */
  seq: number;
  /** The row at that position; null when the event is missing. */
  id: number | null;
  kind: AuditProblemKind;
  /** What was found, in words. */
  problem: string;
}

export interface AuditChainIntact {
  ok: true;
  chain: string;
  events: number;
  /** Null for a chain without events. */
  head: AuditChainHead | null;
}

export interface AuditChainBroken {
  ok: false;
  chain: string;
  /** How many events verified before the first bad one. */
  events: number;
  firstBad: AuditBadEvent;
}

export type AuditChainVerification = AuditChainIntact | AuditChainBroken;

export interface VerifyAuditOptions {
  /** Events read per query (memory stays constant whatever the chain's length). */
  batchSize?: number;
  /** A head recorded earlier: the chain must still reach it, with the same hash at that seq. */
  anchor?: AuditChainHead;
}

interface Row extends HashedAuditFields {
  id: number;
  prev_hash: Uint8Array;
  hash: Uint8Array;
}

interface Verified {
  id: number;
  seq: number;
  hash: Buffer;
}

/**
 * Walks a chain from seq 1 in seq order and stops at the first event that does not verify.
 * A chain alone cannot show that events were removed from its end (the remaining events still form
 * a valid chain): compare the returned head with one recorded earlier, or pass it as `anchor`.
 */
export async function verifyAuditChain(
  db: Kysely<DB>,
  chain: string,
  options: VerifyAuditOptions = {},
): Promise<AuditChainVerification> {
  const batchSize = options.batchSize ?? 1000;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
  const anchor = options.anchor ? { seq: options.anchor.seq, hash: options.anchor.hash.toLowerCase() } : undefined;
  if (anchor && (!Number.isSafeInteger(anchor.seq) || anchor.seq < 1 || !/^[0-9a-f]{64}$/.test(anchor.hash))) {
    throw new RangeError('anchor must be a seq (positive integer) and a hex SHA-256');
  }

  let prev: Verified | null = null;
  let verified = 0;
  const fail = (firstBad: AuditBadEvent, events = verified): AuditChainVerification => ({ ok: false, chain, events, firstBad });

  for (;;) {
    const after: Verified | null = prev;
    let query = db.selectFrom('audit_event').select(AUDIT_EVENT_COLUMNS).where('chain', '=', chain);
    // Keyset on (seq, id) rather than seq alone, so a duplicated seq (only possible with the unique
    // constraint dropped) is still read and reported.
    if (after) query = query.where((eb) => eb(eb.refTuple('seq', 'id'), '>', eb.tuple(after.seq, after.id)));
    const rows = (await query.orderBy('seq').orderBy('id').limit(batchSize).execute()) as Row[];

    for (const raw of rows) {
      const row = { ...raw, id: Number(raw.id), seq: Number(raw.seq) };
      const expectedSeq: number = prev ? prev.seq + 1 : 1;
      if (row.seq !== expectedSeq) {
        if (row.seq < expectedSeq) {
          return fail({ seq: row.seq, id: row.id, kind: 'inserted', problem: `a second event with seq ${row.seq} (id ${row.id})` });
        }
        const gap = missing(expectedSeq, row.seq - 1);
        if (!prev) {
          return fail({
            seq: 1,
            id: null,
            kind: 'wrong_start',
            problem: `the chain starts at seq ${row.seq}, not 1: ${gap} (deleted)`,
          });
        }
        return fail({
          seq: expectedSeq,
          id: null,
          kind: 'deleted',
          problem: `${gap} (deleted): the chain jumps from seq ${prev.seq} to seq ${row.seq} (id ${row.id})`,
        });
      }

      const prevHash = Buffer.from(row.prev_hash);
      const hash = Buffer.from(row.hash);
      const contentOk = hashAuditEvent(prevHash, row).equals(hash);
      if (!prevHash.equals(prev ? prev.hash : AUDIT_ZERO_HASH)) {
        const found = await diagnoseBrokenLink(db, chain, row, prevHash, prev, contentOk);
        return fail(found, Math.min(verified, found.seq - 1));
      }
      if (!contentOk) {
        return fail({
          seq: row.seq,
          id: row.id,
          kind: 'edited',
          problem: 'its content no longer matches its hash: a field was changed after it was written',
        });
      }
      if (anchor && row.seq === anchor.seq && hash.toString('hex') !== anchor.hash) {
        return fail({
          seq: row.seq,
          id: row.id,
          kind: 'rewritten',
          problem: `its hash ${hash.toString('hex')} is not the anchor's ${anchor.hash}: the chain was rewritten, hashes recomputed, at or before this event`,
        });
      }
      prev = { id: row.id, seq: row.seq, hash };
      verified += 1;
    }
    if (rows.length < batchSize) break;
  }

  if (anchor && (prev?.seq ?? 0) < anchor.seq) {
    const end = prev ? `ends at seq ${prev.seq}` : 'has no events';
    return fail({
      seq: (prev?.seq ?? 0) + 1,
      id: null,
      kind: 'truncated',
      problem: `the chain ${end} but the anchor has seq ${anchor.seq}: ${missing((prev?.seq ?? 0) + 1, anchor.seq)} (deleted from the end)`,
    });
  }
  return { ok: true, chain, events: verified, head: prev ? { seq: prev.seq, hash: prev.hash.toString('hex') } : null };
}

/** An event whose prev_hash is not the previous event's hash: find which event it does link to. */
async function diagnoseBrokenLink(
  db: Kysely<DB>,
  chain: string,
  row: Row,
  prevHash: Buffer,
  prev: Verified | null,
  contentOk: boolean,
): Promise<AuditBadEvent> {
  const linked = await db
    .selectFrom('audit_event')
    .select(['id', 'seq'])
    .where('chain', '=', chain)
    .where('hash', '=', prevHash)
    .orderBy('seq')
    .limit(1)
    .executeTakeFirst();
  const linkedSeq = linked ? Number(linked.seq) : null;

  if (linkedSeq !== null && linkedSeq < row.seq - 1) {
    const first = linkedSeq + 1;
    let firstId = prev && prev.seq === first ? prev.id : null;
    if (firstId === null) {
      const inserted = await db.selectFrom('audit_event').select('id').where('chain', '=', chain).where('seq', '=', first).executeTakeFirst();
      firstId = inserted ? Number(inserted.id) : null;
    }
    return {
      seq: first,
      id: firstId,
      kind: 'inserted',
      problem: `${seqs(first, row.seq - 1)} ${first === row.seq - 1 ? 'was' : 'were'} inserted: seq ${row.seq} (id ${row.id}) links to seq ${linkedSeq}`,
    };
  }
  if (linkedSeq !== null && linkedSeq >= row.seq) {
    return {
      seq: row.seq,
      id: row.id,
      kind: 'reordered',
      problem: `it links to seq ${linkedSeq}, which comes after it: events were reordered`,
    };
  }
  if (!prev) {
    return {
      seq: row.seq,
      id: row.id,
      kind: 'wrong_start',
      problem: 'the first event does not start from the zero hash: the start of the chain was replaced',
    };
  }
  if (contentOk) {
    // This event is intact and commits to a hash that no longer exists: its predecessor was changed and re-hashed.
    return {
      seq: prev.seq,
      id: prev.id,
      kind: 'edited',
      problem: `it was changed and its hash recomputed: seq ${row.seq} (id ${row.id}) still links to its original hash`,
    };
  }
  return {
    seq: row.seq,
    id: row.id,
    kind: 'edited',
    problem: `its prev_hash was changed: it matches no event in the chain (the previous event is seq ${prev.seq})`,
  };
}

function seqs(from: number, to: number): string {
  return from === to ? `seq ${from}` : `seq ${from}–${to}`;
}

function missing(from: number, to: number): string {
  return `${seqs(from, to)} ${from === to ? 'is' : 'are'} missing`;
}

/** Every chain that has events: `instance` first, then organisations by id. */
export async function listChains(db: Kysely<DB>): Promise<string[]> {
  const rows = await db.selectFrom('audit_event').select('chain').distinct().execute();
  const rank = (chain: string) => (chain === 'instance' ? -1 : /^org:\d+$/.test(chain) ? Number(chain.slice(4)) : Number.MAX_SAFE_INTEGER);
  return rows.map((r) => r.chain).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}
