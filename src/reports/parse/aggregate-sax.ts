/**
 * The event side of the aggregate report parser: a state machine over element local names that
 * turns the XML scanner's events into header, record batches and the end event. Values are kept as raw
 * text while an element is open and normalised once, when the enclosing record closes.
 */
import {
  ReportError,
  type AggregateEvent,
  type AggregateHeader,
  type AggregateRecord,
  type DkimAuthResult,
  type PolicyOverrideReason,
  type SpfAuthResult,
} from '../types.js';
import {
  MAX_RECORD_COUNT,
  ReportWarnings,
  email,
  epochSeconds,
  ipAddress,
  lower,
  percentage,
  plural,
  recordCount,
  spfDomain,
  text,
} from './aggregate-fields.js';
import { XmlScanner, type XmlAttributes, type XmlHandler } from './xml-scanner.js';

// Element states. Containers first; every state from FIRST_LEAF on is a text-valued leaf.
const NONE = 0; // outside the root
const UNKNOWN = 1; // an element we do not read, and everything inside it
const EXT = 2; // an extension element, serialised back to XML
const ROOT = 3;
const META = 4;
const DATE_RANGE = 5;
const POLICY = 6;
const RECORD = 7;
const ROW = 8;
const EVALUATED = 9;
const REASON = 10;
const IDENTIFIERS = 11;
const AUTH = 12;
const AUTH_DKIM = 13;
const AUTH_SPF = 14;
const EXTENSIONS = 15;
const FIRST_LEAF = 16;
const VERSION = 16;
const ORG_NAME = 17;
const EMAIL = 18;
const EXTRA_CONTACT = 19;
const REPORT_ID = 20;
const ERROR = 21;
const GENERATOR = 22;
const BEGIN = 23;
const END = 24;
const P_DOMAIN = 25;
const ADKIM = 26;
const ASPF = 27;
const P = 28;
const SP = 29;
const NP = 30;
const PCT = 31;
const FO = 32;
const TESTING = 33;
const DISCOVERY = 34;
const SOURCE_IP = 35;
const COUNT = 36;
const DISPOSITION = 37;
const EVAL_DKIM = 38;
const EVAL_SPF = 39;
const HEADER_FROM = 40;
const ENVELOPE_FROM = 41;
const ENVELOPE_TO = 42;
const REASON_TYPE = 43;
const REASON_COMMENT = 44;
const DKIM_DOMAIN = 45;
const DKIM_SELECTOR = 46;
const DKIM_RESULT = 47;
const DKIM_HUMAN = 48;
const SPF_DOMAIN = 49;
const SPF_SCOPE = 50;
const SPF_RESULT = 51;
const SPF_HUMAN = 52;
const STATES = 53;

function childState(parent: number, local: string): number {
  switch (parent) {
    case ROOT:
      switch (local) {
        case 'record': return RECORD;
        case 'report_metadata': return META;
        case 'policy_published': return POLICY;
        case 'version': return VERSION;
        case 'extension': return EXT;
        case 'extensions': return EXTENSIONS;
      }
      return UNKNOWN;
    case RECORD:
      switch (local) {
        case 'row': return ROW;
        case 'identifiers': return IDENTIFIERS;
        case 'auth_results': return AUTH;
        case 'extension': return EXT;
        case 'extensions': return EXTENSIONS;
      }
      return UNKNOWN;
    case ROW:
      switch (local) {
        case 'source_ip': return SOURCE_IP;
        case 'count': return COUNT;
        case 'policy_evaluated': return EVALUATED;
      }
      return UNKNOWN;
    case EVALUATED:
      switch (local) {
        case 'disposition': return DISPOSITION;
        case 'dkim': return EVAL_DKIM;
        case 'spf': return EVAL_SPF;
        case 'reason': return REASON;
      }
      return UNKNOWN;
    case IDENTIFIERS:
      switch (local) {
        case 'header_from': return HEADER_FROM;
        case 'envelope_from': return ENVELOPE_FROM;
        case 'envelope_to': return ENVELOPE_TO;
      }
      return UNKNOWN;
    case AUTH:
      switch (local) {
        case 'dkim': return AUTH_DKIM;
        case 'spf': return AUTH_SPF;
      }
      return UNKNOWN;
    case AUTH_DKIM:
      switch (local) {
        case 'domain': return DKIM_DOMAIN;
        case 'selector': return DKIM_SELECTOR;
        case 'result': return DKIM_RESULT;
        case 'human_result': return DKIM_HUMAN;
      }
      return UNKNOWN;
    case AUTH_SPF:
      switch (local) {
        case 'domain': return SPF_DOMAIN;
        case 'scope': return SPF_SCOPE;
        case 'result': return SPF_RESULT;
        case 'human_result': return SPF_HUMAN;
      }
      return UNKNOWN;
    case REASON:
      switch (local) {
        case 'type': return REASON_TYPE;
        case 'comment': return REASON_COMMENT;
      }
      return UNKNOWN;
    case META:
      switch (local) {
        case 'org_name': return ORG_NAME;
        case 'email': return EMAIL;
        case 'extra_contact_info': return EXTRA_CONTACT;
        case 'report_id': return REPORT_ID;
        case 'date_range': return DATE_RANGE;
        case 'error': return ERROR;
        case 'generator': return GENERATOR;
        case 'version': return VERSION; // seen inside report_metadata in DMARCbis drafts
      }
      return UNKNOWN;
    case DATE_RANGE:
      switch (local) {
        case 'begin': return BEGIN;
        case 'end': return END;
      }
      return UNKNOWN;
    case POLICY:
      switch (local) {
        case 'domain': return P_DOMAIN;
        case 'adkim': return ADKIM;
        case 'aspf': return ASPF;
        case 'p': return P;
        case 'sp': return SP;
        case 'np': return NP;
        case 'pct': return PCT;
        case 'fo': return FO;
        case 'testing': return TESTING;
        case 't': return TESTING; // DMARCbis drafts used the tag name
        case 'discovery_method': return DISCOVERY;
      }
      return UNKNOWN;
    case EXTENSIONS:
      return EXT;
  }
  return UNKNOWN;
}

export interface CollectorOptions {
  batchSize: number;
  maxDepth: number;
}

export class AggregateCollector implements XmlHandler {
  /** Events ready to be handed out; the caller drains it after every write. */
  queue: AggregateEvent[] = [];
  private readonly scanner: XmlScanner;
  private readonly batchSize: number;
  private readonly maxDepth: number;
  private readonly warnings = new ReportWarnings();
  private readonly extensions: string[] = [];

  private state = NONE;
  private readonly stack: number[] = [];
  private depth = 0;
  private text = '';
  /** Raw text of the leaves, indexed by state. */
  private readonly values: (string | null)[] = Array.from({ length: STATES }, () => null);
  private readonly errors: string[] = [];

  private rootPrefix = '';
  private namespace: string | null = null;

  private sawDateRange = false;
  private sawPolicy = false;
  private metaClosed = false;
  private policyClosed = false;
  private header: AggregateHeader | null = null;
  private readonly unknownHeaderNames = new Set<string>();

  private recordIndex = 0;
  // Created with their first element: most records have one of each and none of reasons, and an
  // array grown by push() from empty reserves 17 slots, which adds up over a batch of records.
  private reasons: PolicyOverrideReason[] | null = null;
  private dkims: DkimAuthResult[] | null = null;
  private spfs: SpfAuthResult[] | null = null;
  private pending: AggregateRecord[] = [];
  private batch: AggregateRecord[] = [];

  private ext = '';

  constructor(options: CollectorOptions) {
    this.batchSize = options.batchSize;
    this.maxDepth = options.maxDepth;
    this.scanner = new XmlScanner(this);
  }

  /** Line breaks dropped before the document start, added to reported line numbers. */
  set lineOffset(lines: number) {
    this.scanner.lineOffset = lines;
  }

  write(chunk: string): void {
    this.scanner.write(chunk);
  }

  /** Ends the document: final well-formedness checks, the header if still due, the last batch and `end`. */
  close(notes: string[]): void {
    this.scanner.close();
    if (this.header === null) this.emitHeader();
    if (this.batch.length > 0) {
      this.queue.push({ type: 'records', records: this.batch });
      this.batch = [];
    }
    if (this.scanner.trailingContent) this.warnings.add('Content after the closing </feedback> tag was ignored.');
    const domain = this.header!.policy.domain;
    const warnings = [...notes, ...this.warnings.list((kind, n, examples) => describe(kind, n, examples, domain))];
    this.queue.push({ type: 'end', warnings, extensions: this.extensions });
  }

  onOpen(name: string, attributes: XmlAttributes | null, selfClosing: boolean): void {
    const parent = this.state;
    const depth = this.depth;
    if (depth >= this.maxDepth) throw this.tooDeep();
    this.stack[depth] = parent;
    this.depth = depth + 1;

    let state: number;
    if (parent >= ROOT) {
      state = childState(parent, name);
      if (state === UNKNOWN) state = this.unknownChild(parent, name);
      switch (state) {
        case UNKNOWN:
          this.scanner.wantText = false;
          this.state = state;
          return;
        case RECORD:
          this.openRecord();
          break;
        case AUTH_DKIM:
          this.clear(DKIM_DOMAIN, DKIM_HUMAN);
          break;
        case AUTH_SPF:
          this.clear(SPF_DOMAIN, SPF_HUMAN);
          break;
        case REASON:
          this.clear(REASON_TYPE, REASON_COMMENT);
          break;
        case DATE_RANGE:
          this.sawDateRange = true;
          break;
        case POLICY:
          this.sawPolicy = true;
          break;
        case EXT:
          break;
        default:
          if (state >= FIRST_LEAF) {
            this.text = '';
            this.scanner.wantText = true;
            this.state = state;
            return;
          }
      }
      if (state === EXT) {
        this.ext = openTag(name, attributes, selfClosing);
        this.scanner.wantText = true;
      }
    } else if (parent === EXT) {
      state = EXT;
      this.ext += openTag(name, attributes, selfClosing);
    } else if (parent === NONE) {
      this.openRoot(name, attributes);
      state = ROOT;
    } else {
      state = UNKNOWN;
    }
    this.state = state;
  }

  onClose(name: string, selfClosing: boolean): void {
    const state = this.state;
    const parent = this.stack[--this.depth]!;
    this.state = parent;
    if (state >= FIRST_LEAF) {
      if (state === ERROR) {
        const e = text(this.text);
        if (e !== null) this.errors.push(e);
      } else {
        this.values[state] = this.text;
      }
      // a leaf's parent is a container
      this.scanner.wantText = false;
      return;
    }
    switch (state) {
      case AUTH_DKIM:
        this.closeDkim();
        return;
      case AUTH_SPF:
        this.closeSpf();
        return;
      case REASON:
        this.closeReason();
        return;
      case RECORD:
        this.closeRecord();
        return;
      case EXT:
        if (!selfClosing) this.ext += `</${name}>`;
        if (parent !== EXT) {
          this.extensions.push(this.ext);
          this.ext = '';
          this.scanner.wantText = false;
        }
        return;
      case UNKNOWN:
        // back inside a leaf, as in <org_name>a<b/>c</org_name>
        if (parent >= FIRST_LEAF) this.scanner.wantText = true;
        return;
      // The header is complete (and checked) where its second part closes, wherever chunks end.
      case META:
        this.metaClosed = true;
        if (this.policyClosed && this.header === null) this.emitHeader();
        return;
      case POLICY:
        this.policyClosed = true;
        if (this.metaClosed && this.header === null) this.emitHeader();
        return;
    }
  }

  onText(chunk: string): void {
    if (this.state === EXT) this.ext += escapeText(chunk);
    else this.text += chunk;
  }

  private tooDeep(): ReportError {
    return new ReportError(
      'malformed_xml',
      `The XML nests elements more than ${this.maxDepth} levels deep (line ${this.scanner.line()}); ` +
        'a DMARC report needs fewer than ten, so the document was refused.',
    );
  }

  private openRoot(name: string, attributes: XmlAttributes | null): void {
    const colon = name.indexOf(':');
    const local = colon === -1 ? name : name.slice(colon + 1);
    if (local !== 'feedback') {
      throw new ReportError('not_a_report', `The root element is <${name}>, not <feedback>: this is not a DMARC aggregate report.`);
    }
    this.rootPrefix = colon === -1 ? '' : name.slice(0, colon);
    const ns = attributes?.[colon === -1 ? 'xmlns' : `xmlns:${this.rootPrefix}`];
    this.namespace = ns === undefined ? null : ns.trim() || null;
  }

  /**
   * State for an element whose full name is not one we read: the same element without its
   * namespace prefix, an extension, or UNKNOWN.
   */
  private unknownChild(parent: number, name: string): number {
    const colon = name.indexOf(':');
    if (colon !== -1) {
      const state = childState(parent, name.slice(colon + 1));
      if (state !== UNKNOWN) return state;
      // RFC 9990 extensions are namespaced elements at the end of <feedback> or <record>
      if ((parent === RECORD || parent === ROOT) && name.slice(0, colon) !== this.rootPrefix) return EXT;
    }
    if ((parent === META || parent === DATE_RANGE || parent === POLICY || parent === ROOT) && this.unknownHeaderNames.size < 10) {
      this.unknownHeaderNames.add(name);
    }
    return UNKNOWN;
  }

  private clear(from: number, to: number): void {
    for (let i = from; i <= to; i++) this.values[i] = null;
  }

  private openRecord(): void {
    this.recordIndex++;
    this.clear(SOURCE_IP, ENVELOPE_TO);
    this.reasons = null;
    this.dkims = null;
    this.spfs = null;
  }

  private closeDkim(): void {
    const v = this.values;
    const domain = lower(v[DKIM_DOMAIN]) ?? '';
    const result = lower(v[DKIM_RESULT]) ?? '';
    const selector = text(v[DKIM_SELECTOR]);
    const humanResult = text(v[DKIM_HUMAN]);
    if (domain === '' && result === '' && selector === null && humanResult === null) return;
    const d: DkimAuthResult = { domain, selector, result, humanResult };
    if (this.dkims === null) this.dkims = [d];
    else this.dkims.push(d);
  }

  private closeSpf(): void {
    const v = this.values;
    const domain = spfDomain(v[SPF_DOMAIN]);
    const result = lower(v[SPF_RESULT]) ?? '';
    const scope = lower(v[SPF_SCOPE]);
    const humanResult = text(v[SPF_HUMAN]);
    if (domain === '' && result === '' && scope === null && humanResult === null) return;
    const r: SpfAuthResult = { domain, scope, result, humanResult };
    if (this.spfs === null) this.spfs = [r];
    else this.spfs.push(r);
  }

  private closeReason(): void {
    const type = lower(this.values[REASON_TYPE]);
    const comment = text(this.values[REASON_COMMENT]);
    if (type === null && comment === null) return;
    const r: PolicyOverrideReason = { type: type ?? '', comment };
    if (this.reasons === null) this.reasons = [r];
    else this.reasons.push(r);
  }

  private closeRecord(): void {
    const v = this.values;
    const n = this.recordIndex;
    const sourceIp = ipAddress(v[SOURCE_IP]);
    if (sourceIp === null) {
      this.warnings.tally('source_ip', `record ${n}: ${JSON.stringify(v[SOURCE_IP]?.trim() ?? '')}`);
      return;
    }
    const count = recordCount(v[COUNT]);
    if (count < 0) {
      this.warnings.tally('count', `record ${n}: ${JSON.stringify(v[COUNT]?.trim() ?? '')}`);
      return;
    }
    let headerFrom = lower(v[HEADER_FROM]);
    if (headerFrom === null) {
      this.warnings.tally('header_from', `record ${n}`);
      headerFrom = this.header === null ? '' : this.header.policy.domain;
    }
    let disposition = lower(v[DISPOSITION]);
    if (disposition === null) {
      this.warnings.tally('disposition', `record ${n}`);
      disposition = '';
    }
    const record: AggregateRecord = {
      sourceIp,
      count,
      disposition,
      dkim: lower(v[EVAL_DKIM]),
      spf: lower(v[EVAL_SPF]),
      reasons: this.reasons ?? [],
      headerFrom,
      envelopeFrom: lower(v[ENVELOPE_FROM]),
      envelopeTo: lower(v[ENVELOPE_TO]),
      dkimResults: this.dkims ?? [],
      spfResults: this.spfs ?? [],
    };
    if (this.header === null) {
      this.pending.push(record);
      return;
    }
    this.batch.push(record);
    if (this.batch.length >= this.batchSize) {
      this.queue.push({ type: 'records', records: this.batch });
      this.batch = [];
    }
  }

  private emitHeader(): void {
    const v = this.values;
    const orgName = text(v[ORG_NAME]) ?? '';
    const contact = email(v[EMAIL]);
    const reportId = text(v[REPORT_ID]);
    const beginText = text(v[BEGIN]);
    const endText = text(v[END]);
    const domain = lower(v[P_DOMAIN]);

    const missing: string[] = [];
    if (orgName === '' && contact === null) missing.push('reporter (report_metadata/org_name or email)');
    if (reportId === null) missing.push('report_metadata/report_id');
    if (!this.sawDateRange) missing.push('report_metadata/date_range');
    else {
      if (beginText === null) missing.push('report_metadata/date_range/begin');
      if (endText === null) missing.push('report_metadata/date_range/end');
    }
    if (!this.sawPolicy) missing.push('policy_published');
    else if (domain === null) missing.push('policy_published/domain');
    if (missing.length > 0) {
      const found = [...this.unknownHeaderNames].map((n) => `<${n}>`).join(', ');
      throw new ReportError(
        'missing_identity',
        `The report cannot be identified: it has no ${missing.join(', ')}.` +
          (found === '' ? '' : ` Elements that were not recognised: ${found}.`) +
          ' Without them it cannot be told apart from other reports, so it was not stored.',
      );
    }

    const begin = epochSeconds(beginText);
    const end = epochSeconds(endText);
    const beginAt = new Date(begin * 1000);
    const endAt = new Date(end * 1000);
    if (Number.isNaN(beginAt.getTime())) throw invalidDate('begin', beginText!);
    if (Number.isNaN(endAt.getTime())) throw invalidDate('end', endText!);
    if (end < begin) {
      throw new ReportError(
        'invalid_report',
        `The report's date range ends (${endAt.toISOString()}) before it begins (${beginAt.toISOString()}).`,
      );
    }

    const pct = percentage(v[PCT]);
    if (pct === undefined) this.warnings.add(`policy_published/pct ${JSON.stringify(v[PCT]!.trim())} is not a percentage; it was ignored.`);

    const header: AggregateHeader = {
      version: text(v[VERSION]),
      namespace: this.namespace,
      metadata: {
        orgName,
        email: contact,
        extraContactInfo: text(v[EXTRA_CONTACT]),
        reportId: reportId!,
        beginAt,
        endAt,
        errors: this.errors,
        generator: text(v[GENERATOR]),
      },
      policy: {
        domain: domain!,
        adkim: lower(v[ADKIM]),
        aspf: lower(v[ASPF]),
        p: lower(v[P]),
        sp: lower(v[SP]),
        np: lower(v[NP]),
        pct: pct ?? null,
        fo: lower(v[FO]),
        testing: lower(v[TESTING]),
        discoveryMethod: lower(v[DISCOVERY]),
      },
    };
    this.header = header;
    this.queue.push({ type: 'header', header });

    const pending = this.pending;
    this.pending = [];
    for (const record of pending) {
      if (record.headerFrom === '') record.headerFrom = header.policy.domain;
      this.batch.push(record);
      if (this.batch.length >= this.batchSize) {
        this.queue.push({ type: 'records', records: this.batch });
        this.batch = [];
      }
    }
  }
}

function invalidDate(which: 'begin' | 'end', value: string): ReportError {
  return new ReportError(
    'invalid_report',
    `report_metadata/date_range/${which} is not a time in seconds since 1970: ${JSON.stringify(value)}.`,
  );
}

function describe(kind: string, n: number, examples: string, domain: string): string {
  switch (kind) {
    case 'source_ip':
      return `Dropped ${plural(n, 'record')} whose source_ip is empty or not an IP address (${examples}).`;
    case 'count':
      return `Dropped ${plural(n, 'record')} whose count is not a whole number from 0 to ${MAX_RECORD_COUNT} (${examples}).`;
    case 'header_from':
      return `${plural(n, 'record')} had no header_from; the policy domain ${domain} was used instead (${examples}).`;
    case 'disposition':
      return `${plural(n, 'record')} had no disposition; it was left empty (${examples}).`;
    default:
      return `${plural(n, 'record')}: ${kind} (${examples}).`;
  }
}

function escapeText(s: string): string {
  if (!/[&<>]/.test(s)) return s;
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttribute(s: string): string {
  if (!/[&<"]/.test(s)) return s;
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
}

function openTag(name: string, attributes: XmlAttributes | null, selfClosing: boolean): string {
  let s = `<${name}`;
  for (const key in attributes) s += ` ${key}="${escapeAttribute(attributes[key]!)}"`;
  return s + (selfClosing ? '/>' : '>');
}
