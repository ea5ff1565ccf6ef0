import type { Kysely, Selectable, Transaction } from 'kysely';
import { recordAuditEvent } from '../audit/record.js';
import type { AuditInput } from '../audit/types.js';
import type { DB, Domain } from '../db/schema.js';
import { randomToken } from '../lib/crypto/index.js';
import type { DnsResolver } from '../lib/dns.js';
import { displayDomainName, normaliseDomainName } from './name.js';
import { checkProofRecord, proofRecordName, proofRecordValue, type ProofOutcome } from './proof.js';
import { afterProofCheck, MISSES_BEFORE_UNVERIFIED } from './verification.js';

export type DomainRow = Selectable<Domain>;

export class DomainExistsError extends Error {
  constructor(readonly domain: string) {
    super(`${domain} is already a domain of this organisation.`);
    this.name = 'DomainExistsError';
  }
}

export interface DomainView {
  id: number;
  /** ASCII form (punycode for internationalised names). */
  name: string;
  /** As people write it. */
  displayName: string;
  createdAt: Date;
  /** Counts for reports: when proof is not required, or once verified. */
  usable: boolean;
  proof: {
    required: boolean;
    status: 'verified' | 'pending';
    statusText: string;
    record: { name: string; type: 'TXT'; value: string };
    verifiedAt: Date | null;
    lastCheckedAt: Date | null;
    nextCheckAt: Date;
    lastOutcome: ProofOutcome | null;
    problem: string | null;
    missedChecks: number;
  };
}

function statusText(row: DomainRow): string {
  const record = proofRecordName(row.name);
  if (row.verified_at !== null) {
    if (row.missed_checks === 0) return `Verified: the TXT record at ${record} holds this domain's token.`;
    const left = MISSES_BEFORE_UNVERIFIED - row.missed_checks;
    return `Verified, but the last ${row.missed_checks === 1 ? 'check' : `${row.missed_checks} checks`} did not find the record; verification is dropped after ${left} more check${left === 1 ? '' : 's'} without it.`;
  }
  if (row.last_checked_at === null) return `Not verified yet: publish the TXT record at ${record}, then ask for a check (or wait for the hourly one).`;
  return `Not verified: ${row.last_check_problem ?? 'the record was not found'}.`;
}

export function viewDomain(row: DomainRow, requireProof: boolean): DomainView {
  return {
    id: row.id,
    name: row.name,
    displayName: displayDomainName(row.name),
    createdAt: row.created_at,
    usable: !requireProof || row.verified_at !== null,
    proof: {
      required: requireProof,
      status: row.verified_at === null ? 'pending' : 'verified',
      statusText: statusText(row),
      record: { name: proofRecordName(row.name), type: 'TXT', value: proofRecordValue(row.verification_token) },
      verifiedAt: row.verified_at,
      lastCheckedAt: row.last_checked_at,
      nextCheckAt: row.next_check_at,
      lastOutcome: row.last_check_outcome as ProofOutcome | null,
      problem: row.last_check_problem,
      missedChecks: row.missed_checks,
    },
  };
}

interface Change {
  orgId: number;
  actor: AuditInput['actor'];
  ip: string | null;
  now: Date;
}

function audit(trx: Transaction<DB>, change: Change, action: string, row: DomainRow, summary: Record<string, unknown>) {
  return recordAuditEvent(trx, { orgId: change.orgId, actor: change.actor, action, target: { type: 'domain', id: row.id }, summary: { name: row.name, ...summary }, ip: change.ip });
}

/** Adds a domain (name normalised; DomainNameError when it is not one) with a new ownership token. */
export async function addDomain(db: Kysely<DB>, change: Change & { name: string }): Promise<DomainRow> {
  const name = normaliseDomainName(change.name);
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('domain')
      .values({ org_id: change.orgId, name, verification_token: randomToken('', 24), created_at: change.now, next_check_at: change.now })
      .onConflict((oc) => oc.columns(['org_id', 'name']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new DomainExistsError(name);
    await audit(trx, change, 'domain.create', row, {});
    return row;
  });
}

/** A domain of the organisation by id or by name (normalised), or undefined. */
export async function findDomain(db: Kysely<DB>, orgId: number, ref: string | number): Promise<DomainRow | undefined> {
  let query = db.selectFrom('domain').selectAll().where('org_id', '=', orgId);
  if (typeof ref === 'number' || /^\d+$/.test(ref)) {
    const id = Number(ref);
    if (!Number.isSafeInteger(id)) return undefined;
    query = query.where('id', '=', id);
  } else {
    let name: string;
    try {
      name = normaliseDomainName(ref);
    } catch {
      return undefined;
    }
    query = query.where('name', '=', name);
  }
  return query.executeTakeFirst();
}

/** A page of the organisation's domains in name order, after the name given. */
export async function listDomains(db: Kysely<DB>, orgId: number, options: { limit: number; after: string | null }): Promise<DomainRow[]> {
  let query = db.selectFrom('domain').selectAll().where('org_id', '=', orgId);
  if (options.after !== null) query = query.where('name', '>', options.after);
  return query.orderBy('name').limit(options.limit).execute();
}

/** The organisation's domains that count for reports (all of them when proof is not required). */
export async function usableDomainNames(db: Kysely<DB>, orgId: number, requireProof: boolean): Promise<string[]> {
  let query = db.selectFrom('domain').select('name').where('org_id', '=', orgId);
  if (requireProof) query = query.where('verified_at', 'is not', null);
  return (await query.orderBy('name').execute()).map((row) => row.name);
}

/** Removes a domain; reports about it stay. False when the organisation has no such domain. */
export async function deleteDomain(db: Kysely<DB>, change: Change & { domainId: number }): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const row = await trx.deleteFrom('domain').where('org_id', '=', change.orgId).where('id', '=', change.domainId).returningAll().executeTakeFirst();
    if (!row) return false;
    await audit(trx, change, 'domain.delete', row, { verified: row.verified_at !== null });
    return true;
  });
}

/**
 * Looks up the ownership record of a domain now and stores what was found, applying the rule in
 * verification.ts. `always`: write an audit event for this check even when verification did not
 * change (a check someone asked for); otherwise only changes are audited.
 */
export async function checkDomainProof(
  db: Kysely<DB>,
  resolver: DnsResolver,
  domain: DomainRow,
  change: Change & { always: boolean },
): Promise<DomainRow | undefined> {
  const check = await checkProofRecord(resolver, domain.name, domain.verification_token);
  return db.transaction().execute(async (trx) => {
    const current = await trx.selectFrom('domain').selectAll().where('org_id', '=', change.orgId).where('id', '=', domain.id).forUpdate().executeTakeFirst();
    if (!current) return undefined;
    const next = afterProofCheck({ createdAt: current.created_at, verifiedAt: current.verified_at, missedChecks: current.missed_checks }, check, change.now);
    const row = await trx
      .updateTable('domain')
      .set({
        verified_at: next.verifiedAt,
        missed_checks: next.missedChecks,
        next_check_at: next.nextCheckAt,
        last_checked_at: change.now,
        last_check_outcome: check.outcome,
        last_check_problem: check.problem,
      })
      .where('id', '=', current.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const action = next.change === 'verified' ? 'domain.verified' : next.change === 'lost' ? 'domain.verification_lost' : 'domain.check';
    if (next.change !== null || change.always) {
      await audit(trx, change, action, row, { outcome: check.outcome, problem: check.problem, verified: { before: current.verified_at !== null, after: row.verified_at !== null } });
    }
    return row;
  });
}

/** Domains whose next check is due, most overdue first. */
export async function dueDomains(db: Kysely<DB>, now: Date, limit: number): Promise<DomainRow[]> {
  return db.selectFrom('domain').selectAll().where('next_check_at', '<=', now).orderBy('next_check_at').orderBy('id').limit(limit).execute();
}
