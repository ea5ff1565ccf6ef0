/**
 * The report pipeline's data contracts: what `extract` produces, what `parse` produces,
 * and the problems either can raise. Everything here is plain data (no DB, no I/O).
 */

/** A replayable sequence of bytes: each call to `open()` starts again from the first byte. */
export interface ByteSource {
  open(): AsyncIterable<Uint8Array>;
}

/** What a document looks like inside, judged from its bytes (never from its name or MIME type). */
export type DocumentFormat =
  | 'xml' // DMARC aggregate report (or something else in XML; the parser decides)
  | 'json' // SMTP TLS report (RFC 8460)
  | 'arf'; // failure report: a whole RFC 5322 message (ARF multipart/report or plain text)

/** One candidate report taken out of its wrappers (mail, zip, gzip). */
export interface ExtractedDocument {
  /** Human-readable path through the wrappers, e.g. `inbox.mbox › message 3 › report.zip › a.xml`. */
  name: string;
  format: DocumentFormat;
  /** Size in bytes after all decompression. */
  size: number;
  /** Lower-case hex SHA-256 of the decompressed bytes: the identity used for de-duplication. */
  sha256: string;
  /** The decompressed bytes, replayable. Already verified to stay within the caps. */
  content: ByteSource;
}

export type ProblemCode =
  | 'empty' // zero bytes
  | 'not_a_report' // readable, but not DMARC/TLS-RPT/failure data (e.g. an ordinary mail, a PNG)
  | 'feedback_loop' // an abuse/FBL ARF message, not a DMARC failure report
  | 'too_large' // a decompressed document or a mail exceeded its cap
  | 'too_many_entries' // a zip with more entries than allowed
  | 'too_deep' // wrappers nested deeper than allowed (zip in zip in zip, gzip in gzip ...)
  | 'corrupt_gzip'
  | 'corrupt_zip'
  | 'unsupported_compression' // zip method other than stored/deflate, encrypted entry
  | 'corrupt_mail'
  | 'malformed_xml'
  | 'dtd_refused' // a <!DOCTYPE> declaration (XXE, entity bombs): never processed
  | 'unsupported_encoding'
  | 'malformed_json'
  | 'missing_identity' // no reporter / report id / policy domain / date range
  | 'invalid_report'; // parses, but violates the format in a way that makes it unusable

/** A problem a person can act on: `message` says what is wrong and, where possible, what to do. */
export interface Problem {
  code: ProblemCode;
  message: string;
  /** The document or wrapper the problem belongs to (same naming as ExtractedDocument.name). */
  name: string;
}

export class ReportError extends Error {
  constructor(
    readonly code: ProblemCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ReportError';
  }
}

/**
 * What a failure while reading one document means for that document: a ReportError as it is, and
 * anything else (a parser bug met by a stranger's odd input) as `invalid_report` — so the document
 * is refused with a reason and kept, and the documents after it are still read.
 */
export function asReportError(error: unknown): ReportError {
  if (error instanceof ReportError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new ReportError(
    'invalid_report',
    `This document could not be read: the reader stopped with "${reason.slice(0, 200)}". It is kept as received; please report it, with the file, as a bug.`,
    { cause: error },
  );
}

export interface ExtractLimits {
  /** Max bytes of one decompressed document. */
  maxDocumentBytes: number;
  /** Max entries read from one zip archive. */
  maxZipEntries: number;
  /** Max bytes of one mail message (raw) and of all its decoded attachments together. */
  maxMailBytes: number;
  /** Max wrapper depth (mail → zip → gzip → document counts 3). */
  maxDepth: number;
}

export const DEFAULT_LIMITS: ExtractLimits = {
  maxDocumentBytes: 50 * 1024 * 1024,
  maxZipEntries: 1000,
  maxMailBytes: 100 * 1024 * 1024,
  maxDepth: 4,
};

export interface ExtractResult {
  documents: ExtractedDocument[];
  problems: Problem[];
  /** How many mail messages were read (mbox/maildir/eml count each message). */
  messages: number;
}

// ---------------------------------------------------------------------------------------------
// Aggregate reports (RFC 7489 Appendix C, RFC 9990)

export type DmarcPolicy = 'none' | 'quarantine' | 'reject';
/** Disposition as reported; RFC 9990 adds `pass`. Unknown values are kept lower-cased. */
export type Disposition = string;
/** DMARC-evaluated DKIM/SPF outcome in policy_evaluated: `pass` | `fail` (others kept lower-cased). */
export type EvaluatedResult = string;

export interface AggregateMetadata {
  orgName: string;
  email: string | null;
  extraContactInfo: string | null;
  reportId: string;
  beginAt: Date;
  endAt: Date;
  errors: string[];
  /** RFC 9990 <generator>. */
  generator: string | null;
}

export interface PolicyPublished {
  domain: string;
  adkim: string | null; // 'r' | 's'
  aspf: string | null; // 'r' | 's'
  p: string | null;
  sp: string | null;
  np: string | null; // RFC 9990
  pct: number | null;
  fo: string | null;
  testing: string | null; // RFC 9990 't' → 'y' | 'n'
  discoveryMethod: string | null; // RFC 9990 'psl' | 'treewalk'
}

export interface AggregateHeader {
  /** <version> as written, or null when absent. */
  version: string | null;
  /** Root element namespace URI, or null. */
  namespace: string | null;
  metadata: AggregateMetadata;
  policy: PolicyPublished;
}

export interface DkimAuthResult {
  domain: string;
  selector: string | null;
  result: string; // none | pass | fail | policy | neutral | temperror | permerror
  humanResult: string | null;
}

export interface SpfAuthResult {
  domain: string;
  scope: string | null; // helo | mfrom
  result: string; // none | neutral | pass | fail | softfail | temperror | permerror
  humanResult: string | null;
}

export interface PolicyOverrideReason {
  type: string; // forwarded | sampled_out | trusted_forwarder | mailing_list | local_policy | other | ...
  comment: string | null;
}

export interface AggregateRecord {
  sourceIp: string; // normalised textual IPv4/IPv6
  count: number;
  disposition: Disposition;
  dkim: EvaluatedResult | null;
  spf: EvaluatedResult | null;
  reasons: PolicyOverrideReason[];
  headerFrom: string;
  envelopeFrom: string | null;
  envelopeTo: string | null;
  dkimResults: DkimAuthResult[];
  spfResults: SpfAuthResult[];
}

/** Streaming events: exactly one `header` before any `records`, then one `end`. */
export type AggregateEvent =
  | { type: 'header'; header: AggregateHeader }
  | { type: 'records'; records: AggregateRecord[] }
  | {
      type: 'end';
      /** Records dropped or values repaired, in words (kept on the report). */
      warnings: string[];
      /** <extension> elements, serialised back to XML text, in document order. */
      extensions: string[];
    };

export interface AggregateReport extends AggregateHeader {
  records: AggregateRecord[];
  warnings: string[];
  extensions: string[];
}

// ---------------------------------------------------------------------------------------------
// SMTP TLS reports (RFC 8460)

export interface TlsFailureDetail {
  resultType: string;
  sendingMtaIp: string | null;
  receivingMxHostname: string | null;
  receivingMxHelo: string | null;
  receivingIp: string | null;
  failedSessionCount: number;
  additionalInformation: string | null;
  failureReasonCode: string | null;
}

export interface TlsPolicyResult {
  policyType: string; // sts | tlsa | no-policy-found
  policyString: string[];
  policyDomain: string;
  mxHost: string[];
  successfulSessionCount: number;
  failedSessionCount: number;
  failureDetails: TlsFailureDetail[];
}

export interface TlsReport {
  organizationName: string;
  contactInfo: string | null;
  reportId: string;
  beginAt: Date;
  endAt: Date;
  policies: TlsPolicyResult[];
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------
// Failure reports (ARF, RFC 5965 / RFC 6591 / RFC 9991)

export interface FailureReport {
  /** `auth-failure` for DMARC failure reports. */
  feedbackType: string;
  /** True when the message had no ARF machine-readable part and fields were read from text. */
  plainText: boolean;
  userAgent: string | null;
  version: string | null;
  arrivalDate: Date | null;
  sourceIp: string | null;
  reportedDomain: string | null;
  reportedUri: string[];
  authFailure: string | null; // dmarc | dkim | spf | adsp | bodyhash | revoked | signature
  identityAlignment: string | null; // none | spf | dkim | dkim,spf
  deliveryResult: string | null;
  dkimDomain: string | null;
  dkimIdentity: string | null;
  dkimSelector: string | null;
  spfDns: string | null;
  originalMailFrom: string | null;
  originalRcptTo: string | null;
  originalEnvelopeId: string | null;
  /** The reported message's header block (never its body), or null when none was included. */
  originalHeaders: string | null;
  /** Selected original headers for display and search. */
  originalFrom: string | null;
  originalSubject: string | null;
  originalMessageId: string | null;
  /** Subject of the report mail itself. */
  reportSubject: string | null;
  /** Date of the report mail itself. */
  reportDate: Date | null;
}
