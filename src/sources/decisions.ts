/**
 * Members' decisions about sources: "authorised" (this sender is ours, whatever the checks say) or
 * "ignored" (known and not worth attention). A decision is about one IP address or about a named
 * service (every address identified as it); the address's own decision wins over its service's.
 */
import { isIP } from 'node:net';
import type { Kysely } from 'kysely';
import { recordAuditEvent } from '../audit/record.js';
import type { AuditInput } from '../audit/types.js';
import type { DB } from '../db/schema.js';

export type DecisionKind = 'authorised' | 'ignored';
export type SubjectType = 'ip' | 'service';

export interface Subject {
  type: SubjectType;
  /** A normalised IP address, or a service id. */
  value: string;
}

export interface SourceDecision {
  subject: Subject;
  decision: DecisionKind;
  note: string | null;
  decidedAt: Date;
  /** Who decided, in words: an e-mail address, an API key's name, or null when it is gone. */
  decidedBy: string | null;
}

export const NOTE_MAX = 500;

/** The address in the form the database prints (`2001:db8::1`, `192.0.2.1`), or null. */
export function normaliseIp(text: string): string | null {
  const value = text.trim();
  const family = isIP(value);
  if (family === 0) return null;
  if (family === 4) return value.split('.').map((n) => String(Number(n))).join('.');
  return new URL(`http://[${value}]/`).hostname.slice(1, -1);
}

/** A key that sorts addresses in numeric order, IPv4 before IPv6 (`4:010.000.000.002` < `4:192.000.002.001`). */
export function ipSortKey(address: string): string {
  const ip = normaliseIp(address);
  if (ip === null) return `9:${address}`;
  if (isIP(ip) === 4) return `4:${ip.split('.').map((n) => n.padStart(3, '0')).join('.')}`;
  const [head = '', tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `6:${groups.map((g) => g.padStart(4, '0')).join(':')}`;
}

export function subjectKey(subject: Subject): string {
  return `${subject.type}:${subject.value}`;
}

/** Every decision of the organisation, by subject key (`ip:192.0.2.1`, `service:sendgrid`). */
export async function decisionsOf(db: Kysely<DB>, orgId: number): Promise<Map<string, SourceDecision>> {
  const rows = await db
    .selectFrom('source_decision as d')
    .leftJoin('user_account as u', 'u.id', 'd.decided_by_user')
    .leftJoin('api_key as k', 'k.id', 'd.decided_by_key')
    .select(['d.subject_type', 'd.subject', 'd.decision', 'd.note', 'd.decided_at', 'u.email', 'k.name as key_name'])
    .where('d.org_id', '=', orgId)
    .execute();
  return new Map(
    rows.map((r) => {
      const decision: SourceDecision = {
        subject: { type: r.subject_type as SubjectType, value: r.subject },
        decision: r.decision as DecisionKind,
        note: r.note,
        decidedAt: r.decided_at,
        decidedBy: r.email ?? (r.key_name ? `API key “${r.key_name}”` : null),
      };
      return [subjectKey(decision.subject), decision];
    }),
  );
}

/** The decision that applies to an address: its own, else its service's. */
export function decisionFor(decisions: Map<string, SourceDecision>, ip: string, serviceId: string | null): SourceDecision | null {
  return decisions.get(subjectKey({ type: 'ip', value: ip })) ?? (serviceId ? decisions.get(subjectKey({ type: 'service', value: serviceId })) : undefined) ?? null;
}

export interface DecisionChange {
  orgId: number;
  actor: AuditInput['actor'];
  ip: string | null;
  now: Date;
}

/** Sets (or replaces) the decision about a subject; audited with what it was before. */
export async function decideSource(db: Kysely<DB>, change: DecisionChange, subject: Subject, decision: DecisionKind, note: string | null): Promise<void> {
  const cleanNote = note?.trim() ? note.trim().slice(0, NOTE_MAX) : null;
  await db.transaction().execute(async (trx) => {
    const before = await trx
      .selectFrom('source_decision')
      .select(['decision', 'note'])
      .where('org_id', '=', change.orgId)
      .where('subject_type', '=', subject.type)
      .where('subject', '=', subject.value)
      .forUpdate()
      .executeTakeFirst();
    const values = {
      decision,
      note: cleanNote,
      decided_by_user: change.actor.type === 'user' ? change.actor.id : null,
      decided_by_key: change.actor.type === 'api_key' ? change.actor.id : null,
      decided_at: change.now,
    };
    await trx
      .insertInto('source_decision')
      .values({ org_id: change.orgId, subject_type: subject.type, subject: subject.value, ...values })
      .onConflict((oc) => oc.columns(['org_id', 'subject_type', 'subject']).doUpdateSet(values))
      .execute();
    await recordAuditEvent(trx, {
      orgId: change.orgId,
      actor: change.actor,
      action: decision === 'authorised' ? 'source.authorise' : 'source.ignore',
      target: { type: subject.type === 'ip' ? 'source_ip' : 'service', id: subject.value },
      summary: { before: before ?? null, after: { decision, note: cleanNote } },
      ip: change.ip,
    });
  });
}

/** Removes the decision about a subject; false when there was none (nothing is audited then). */
export async function undoSourceDecision(db: Kysely<DB>, change: DecisionChange, subject: Subject): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const removed = await trx
      .deleteFrom('source_decision')
      .where('org_id', '=', change.orgId)
      .where('subject_type', '=', subject.type)
      .where('subject', '=', subject.value)
      .returning(['decision', 'note'])
      .executeTakeFirst();
    if (!removed) return false;
    await recordAuditEvent(trx, {
      orgId: change.orgId,
      actor: change.actor,
      action: 'source.decision_remove',
      target: { type: subject.type === 'ip' ? 'source_ip' : 'service', id: subject.value },
      summary: { before: removed, after: null },
      ip: change.ip,
    });
    return true;
  });
}
