import { sql, type Kysely } from 'kysely';
import { recordAuditEvent } from '../audit/record.js';
import type { AuditInput } from '../audit/types.js';
import type { DB } from '../db/schema.js';
import { deleteAggregateReports } from '../ingest/delete-reports.js';
import { DEFAULT_ORG_SLUG } from './default-org.js';
import { OrgRuleError } from './rule-error.js';

/** Rows per transaction (reports: per transaction, with all their records). */
export interface DeletionBatches {
  reports?: number;
  rows?: number;
}

const DEFAULT_REPORT_BATCH = 200;
const DEFAULT_ROW_BATCH = 5000;

/**
 * Tables emptied first and in this order, by id: mailboxes (so polling stops), then the reports
 * (their records go with them), then what reports point at. Foreign keys without cascades run
 * from reports to raw_document, so raw_document comes after every report table.
 */
const ORDERED_TABLES = ['mailbox', 'tls_report', 'failure_report', 'ingest_log', 'raw_document'] as const;

/**
 * Tables that have an org_id but are emptied with their parent row (a report or a mailbox) and
 * have no index on org_id: never looked up by it.
 */
const REMOVED_WITH_PARENT = new Set([
  'aggregate_record',
  'aggregate_record_dkim',
  'aggregate_record_spf',
  'aggregate_record_reason',
  'tls_report_policy',
  'tls_report_failure',
  'pop3_seen',
]);

/** Kept: the audit trail outlives the organisation (its org_id becomes null; its chain name stays). Memberships go last, with the organisation. */
const KEPT_UNTIL_THE_END = new Set(['audit_event', 'membership']);

export interface OrganizationDeletion {
  slug: string;
  name: string;
  /** Rows removed per table (tables with none left out). */
  removed: Record<string, number>;
}

/** Deletes up to `limit` of the organisation's rows of a table; how many went. */
async function deleteSome(db: Kysely<DB>, table: string, orgId: number, limit: number): Promise<number> {
  // By ctid, so tables without an id column (rollups) are batched the same way.
  const result = await sql<{ removed: number }>`
    with gone as (
      delete from ${sql.table(table)}
      where org_id = ${orgId}
        and ctid = any(array(select ctid from ${sql.table(table)} where org_id = ${orgId} limit ${limit}))
      returning 1
    )
    select count(*)::int as removed from gone`.execute(db);
  return Number(result.rows[0]?.removed ?? 0);
}

async function deleteReportBatch(db: Kysely<DB>, orgId: number, limit: number): Promise<number> {
  const run = async (trx: Kysely<DB>) => {
    const ids = await trx.selectFrom('aggregate_report').select('id').where('org_id', '=', orgId).orderBy('id').limit(limit).execute();
    return deleteAggregateReports(trx, orgId, ids.map((r) => r.id));
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

/** Every base table of the schema with an org_id column that is emptied by org_id, beyond ORDERED_TABLES. */
async function otherTenantTables(db: Kysely<DB>): Promise<string[]> {
  const rows = await sql<{ table_name: string }>`
    select c.table_name
    from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
    where c.table_schema = current_schema() and c.column_name = 'org_id' and t.table_type = 'BASE TABLE'
    order by c.table_name`.execute(db);
  const ordered = new Set<string>(ORDERED_TABLES);
  return rows.rows
    .map((r) => r.table_name)
    .filter((name) => name !== 'aggregate_report' && !ordered.has(name) && !REMOVED_WITH_PARENT.has(name) && !KEPT_UNTIL_THE_END.has(name));
}

/** Empties the organisation's rows, a batch per statement; with a transaction, all of it runs in that one. */
async function emptyTables(db: Kysely<DB>, orgId: number, batches: Required<DeletionBatches>, removed: Record<string, number>): Promise<void> {
  const count = (table: string, n: number) => {
    if (n > 0) removed[table] = (removed[table] ?? 0) + n;
  };
  for (;;) {
    const n = await deleteReportBatch(db, orgId, batches.reports);
    count('aggregate_report', n);
    if (n < batches.reports) break;
  }
  const tables = [...ORDERED_TABLES, ...(await otherTenantTables(db))];
  for (const table of tables) {
    for (;;) {
      const n = await deleteSome(db, table, orgId, batches.rows);
      count(table, n);
      if (n < batches.rows) break;
    }
  }
}

/**
 * Deletes an organisation and everything it owns: mailboxes first (polling stops), then reports with
 * their records, raw documents, rollups, the ingest log, domains, keys, invitations — a batch per
 * transaction, so a large organisation never holds one huge transaction — and finally, in one
 * transaction that locks the organisation (no new rows can reference it meanwhile), whatever
 * arrived in between, the memberships and the organisation itself. The `organization.delete`
 * event is the last of the organisation's chain; the chain outlives it (org_id becomes null).
 *
 * Safe to run again after an interruption: the members keep access until the last step. The
 * default organisation (what the command line imports) is refused. Null when it does not exist.
 */
export async function deleteOrganization(
  db: Kysely<DB>,
  input: { orgId: number; actor: AuditInput['actor']; ip: string | null; batches?: DeletionBatches },
): Promise<OrganizationDeletion | null> {
  const batches = { reports: input.batches?.reports ?? DEFAULT_REPORT_BATCH, rows: input.batches?.rows ?? DEFAULT_ROW_BATCH };
  const org = await db.selectFrom('organization').select(['slug', 'name']).where('id', '=', input.orgId).executeTakeFirst();
  if (!org) return null;
  if (org.slug === DEFAULT_ORG_SLUG) {
    throw new OrgRuleError(
      'conflict',
      'default_organization',
      'The default organisation holds what the command line imports and cannot be deleted; remove its mailboxes and reports instead.',
    );
  }

  const removed: Record<string, number> = {};
  await emptyTables(db, input.orgId, batches, removed);

  return db.transaction().execute(async (trx) => {
    const locked = await trx.selectFrom('organization').select(['slug', 'name']).where('id', '=', input.orgId).forUpdate().executeTakeFirst();
    if (!locked) return null;
    await emptyTables(trx, input.orgId, batches, removed);
    const members = await trx.selectFrom('membership').select(sql<number>`count(*)::int`.as('n')).where('org_id', '=', input.orgId).executeTakeFirstOrThrow();
    await recordAuditEvent(trx, {
      orgId: input.orgId,
      actor: input.actor,
      action: 'organization.delete',
      target: { type: 'organization', id: input.orgId },
      summary: { slug: locked.slug, name: locked.name, members: Number(members.n), removed },
      ip: input.ip,
    });
    await trx.deleteFrom('organization').where('id', '=', input.orgId).execute();
    return { slug: locked.slug, name: locked.name, removed };
  });
}
