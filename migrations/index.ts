import type { Migration } from 'kysely/migration';
import * as m0001 from './0001_reports.js';
import * as m0002 from './0002_mailboxes.js';
import * as m0003 from './0003_accounts.js';
import * as m0004 from './0004_daily_deltas.js';
import * as m0005 from './0005_domain_proof.js';
import * as m0006 from './0006_source_enrichment.js';
import * as m0007 from './0007_domain_daily.js';
import * as m0008 from './0008_source_evidence.js';
import * as m0009 from './0009_source_history_index.js';
import * as m0010 from './0010_daily_view_without_grouping.js';
import * as m0011 from './0011_report_policy_index.js';

/** Static index: migrations run in key order; a name, once shipped, never changes. */
export const migrations: Record<string, Migration> = {
  '0001_reports': m0001,
  '0002_mailboxes': m0002,
  '0003_accounts': m0003,
  '0004_daily_deltas': m0004,
  '0005_domain_proof': m0005,
  '0006_source_enrichment': m0006,
  '0007_domain_daily': m0007,
  '0008_source_evidence': m0008,
  '0009_source_history_index': m0009,
  '0010_daily_view_without_grouping': m0010,
  '0011_report_policy_index': m0011,
};
