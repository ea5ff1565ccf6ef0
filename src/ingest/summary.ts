import type { DocumentOutcome, Outcome, ReportKind } from './types.js';

/** What an ingest run did, for people (the CLI's closing table) and scripts (`--json`). */
export interface IngestSummary {
  files: number;
  messages: number;
  documents: number;
  outcomes: Record<Outcome, number>;
  /** Stored reports per kind. */
  stored: Record<ReportKind, number>;
  /** Documents already processed earlier (identical bytes), a subset of duplicate/refused/not_a_report. */
  seenBefore: number;
  records: number;
  /** Refused or not-a-report documents per problem code, with one example each. */
  problems: Record<string, { count: number; example: { item: string; message: string } }>;
  unreadable: { path: string; reason: string }[];
}

export function emptySummary(): IngestSummary {
  return {
    files: 0,
    messages: 0,
    documents: 0,
    outcomes: { stored: 0, duplicate: 0, refused: 0, not_a_report: 0 },
    stored: { aggregate: 0, tlsrpt: 0, failure: 0 },
    seenBefore: 0,
    records: 0,
    problems: {},
    unreadable: [],
  };
}

export function addOutcome(summary: IngestSummary, outcome: DocumentOutcome): void {
  summary.documents += 1;
  summary.outcomes[outcome.outcome] += 1;
  if (outcome.seenBefore) summary.seenBefore += 1;
  if (outcome.outcome === 'stored' && outcome.kind) summary.stored[outcome.kind] += 1;
  summary.records += outcome.records;
  if (outcome.problemCode && (outcome.outcome === 'refused' || outcome.outcome === 'not_a_report')) {
    const entry = (summary.problems[outcome.problemCode] ??= {
      count: 0,
      example: { item: outcome.item, message: outcome.problem ?? '' },
    });
    entry.count += 1;
  }
}

const LABELS: Record<string, string> = {
  empty: 'empty file or part',
  not_a_report: 'not a report',
  feedback_loop: 'feedback-loop complaint (not DMARC)',
  too_large: 'over a size limit',
  too_many_entries: 'zip with too many entries',
  too_deep: 'nested too deep',
  corrupt_gzip: 'corrupt gzip',
  corrupt_zip: 'corrupt zip',
  unsupported_compression: 'unsupported or encrypted zip entry',
  corrupt_mail: 'unreadable mail',
  malformed_xml: 'malformed XML',
  dtd_refused: 'DOCTYPE refused (unsafe XML)',
  unsupported_encoding: 'unsupported character encoding',
  malformed_json: 'malformed JSON',
  missing_identity: 'report without its identity',
  invalid_report: 'invalid report',
};

export function formatSummary(s: IngestSummary): string {
  const lines = [
    `Read ${s.files} file(s), ${s.messages} mail message(s), ${s.documents} document(s).`,
    `  stored:        ${s.outcomes.stored} (aggregate ${s.stored.aggregate}, TLS ${s.stored.tlsrpt}, failure ${s.stored.failure}) with ${s.records} record(s)`,
    `  duplicate:     ${s.outcomes.duplicate}${s.seenBefore ? ` (${s.seenBefore} seen before, skipped without parsing)` : ''}`,
    `  refused:       ${s.outcomes.refused}`,
    `  not a report:  ${s.outcomes.not_a_report}`,
  ];
  const problems = Object.entries(s.problems).sort((a, b) => b[1].count - a[1].count);
  if (problems.length) {
    lines.push('Refused and skipped, by reason:');
    for (const [code, { count, example }] of problems) {
      lines.push(`  ${String(count).padStart(6)}  ${LABELS[code] ?? code} — e.g. ${example.item}: ${example.message}`);
    }
  }
  if (s.unreadable.length) {
    lines.push('Could not read:');
    for (const u of s.unreadable.slice(0, 20)) lines.push(`  ${u.path}: ${u.reason}`);
    if (s.unreadable.length > 20) lines.push(`  … and ${s.unreadable.length - 20} more`);
  }
  return lines.join('\n');
}
