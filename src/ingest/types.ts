import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Logger } from '../lib/logger.js';
import type { ExtractLimits, ProblemCode } from '../reports/types.js';

export type Outcome = 'stored' | 'duplicate' | 'refused' | 'not_a_report';
export type ReportKind = 'aggregate' | 'tlsrpt' | 'failure';

export interface IngestContext {
  db: Kysely<DB>;
  orgId: number;
  /** Where the bytes came from: `file:/abs/path`, `imap:<mailbox>:<uidvalidity>:<uid>`, `upload:<id>`. */
  source: string;
  limits: ExtractLimits;
  keepFailureHeaders: boolean;
  logger: Logger;
}

export interface DocumentOutcome {
  item: string;
  kind: ReportKind | null;
  outcome: Outcome;
  /** True when this exact document was already processed earlier (the fast path). */
  seenBefore: boolean;
  problemCode: ProblemCode | null;
  problem: string | null;
  records: number;
  reportRef: string | null;
}
