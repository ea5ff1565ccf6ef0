/**
 * Deterministic synthetic DMARC aggregate reports shaped like the ones large receivers send
 * (Google/Microsoft style): mixed IPv4/IPv6 sources, mostly passing traffic with some spoofing,
 * one or two DKIM signatures, SPF for mfrom and sometimes helo, occasional override reasons.
 */

export interface SyntheticReportOptions {
  records: number;
  seed?: number;
  domain?: string;
  orgName?: string;
  reportId?: string;
  beginEpoch?: number;
}

const RECORDS_PER_CHUNK = 64;

/** mulberry32: small, fast and good enough for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const IPV4_PREFIXES = ['209.85', '40.107', '52.100', '185.12', '198.2', '66.163', '17.58', '91.198', '103.21', '45.76'];
const IPV6_PREFIXES = ['2a01:111:f400', '2607:f8b0:4864', '2a00:1450:4864', '2001:db8:85a3', '2a02:a60:1'];
const SENDERS = ['mailchimp.example', 'sendgrid.example', 'amazonses.example', 'bounces.partner.example'];
const SELECTORS = ['google', 'selector1', 'selector2', 's1', 'k1', 'mte1', 'smtpapi'];
const RECIPIENTS = ['gmail.com', 'outlook.com', 'yahoo.com', 'example.org'];
const REASONS: Array<[string, string | null]> = [
  ['local_policy', 'arc=pass'],
  ['forwarded', null],
  ['sampled_out', null],
  ['local_policy', "550-5.7.26 Unauthenticated email from {d} is not accepted due to domain's DMARC policy"],
  ['trusted_forwarder', 'arc=pass as.1.google.com=pass'],
  ['mailing_list', 'list-id present'],
];

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function ip(rand: () => number): string {
  if (rand() < 0.7) {
    return `${pick(rand, IPV4_PREFIXES)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 254) + 1}`;
  }
  const group = () => Math.floor(rand() * 0x10000).toString(16);
  return rand() < 0.5
    ? `${pick(rand, IPV6_PREFIXES)}:${group()}::${group()}`
    : `${pick(rand, IPV6_PREFIXES)}:${group()}:${group()}:${group()}:${group()}:${group()}`;
}

function count(rand: () => number): number {
  const r = rand();
  if (r < 0.55) return 1;
  if (r < 0.85) return 2 + Math.floor(rand() * 20);
  if (r < 0.98) return 20 + Math.floor(rand() * 2000);
  return 2000 + Math.floor(rand() * 200_000);
}

function header(o: Required<SyntheticReportOptions>): string {
  return `<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <version>1.0</version>
  <report_metadata>
    <org_name>${o.orgName}</org_name>
    <email>noreply-dmarc-support@${o.orgName}</email>
    <extra_contact_info>https://support.${o.orgName}/a/answer/2466580</extra_contact_info>
    <report_id>${o.reportId}</report_id>
    <date_range>
      <begin>${o.beginEpoch}</begin>
      <end>${o.beginEpoch + 86399}</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>${o.domain}</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>quarantine</p>
    <sp>quarantine</sp>
    <np>reject</np>
    <pct>100</pct>
  </policy_published>
`;
}

function record(rand: () => number, domain: string): string {
  const legit = rand() < 0.75;
  const dkimPass = legit && rand() < 0.95;
  const spfPass = legit ? rand() < 0.9 : rand() < 0.1;
  const aligned = dkimPass || spfPass;
  const disposition = aligned ? 'none' : pick(rand, ['quarantine', 'quarantine', 'reject', 'none']);
  const sender = Math.floor(rand() * SENDERS.length);
  const thirdParty = SENDERS[sender]!;
  const otherParty = SENDERS[(sender + 1) % SENDERS.length]!;
  const envelopeFrom = legit ? (rand() < 0.7 ? domain : `bounce.${domain}`) : thirdParty;

  let reasons = '';
  if (rand() < 0.06) {
    const [type, comment] = pick(rand, REASONS);
    reasons = `
        <reason>
          <type>${type}</type>${comment === null ? '' : `
          <comment>${comment.replace('{d}', domain)}</comment>`}
        </reason>`;
  }

  const identifiers = [`
      <header_from>${domain}</header_from>`];
  if (rand() < 0.35) identifiers.push(`
      <envelope_from>${envelopeFrom}</envelope_from>`);
  if (rand() < 0.3) identifiers.push(`
      <envelope_to>${pick(rand, RECIPIENTS)}</envelope_to>`);

  const dkimCount = rand() < 0.05 ? 0 : rand() < 0.85 ? 1 : 2;
  let auth = '';
  for (let i = 0; i < dkimCount; i++) {
    const d = i === 0 ? (legit ? domain : thirdParty) : legit ? thirdParty : otherParty;
    const result = i === 0 ? (dkimPass ? 'pass' : pick(rand, ['fail', 'none', 'temperror'])) : 'pass';
    auth += `
      <dkim>
        <domain>${d}</domain>
        <selector>${pick(rand, SELECTORS)}</selector>
        <result>${result}</result>${result === 'fail' && rand() < 0.3 ? `
        <human_result>signature verification failed</human_result>` : ''}
      </dkim>`;
  }
  if (rand() < 0.1) {
    auth += `
      <spf>
        <domain>mail.${envelopeFrom}</domain>
        <scope>helo</scope>
        <result>${pick(rand, ['pass', 'none', 'neutral'])}</result>
      </spf>`;
  }
  auth += `
      <spf>
        <domain>${envelopeFrom}</domain>${rand() < 0.5 ? `
        <scope>mfrom</scope>` : ''}
        <result>${spfPass ? 'pass' : pick(rand, ['fail', 'softfail', 'neutral', 'none', 'permerror'])}</result>
      </spf>`;

  return `  <record>
    <row>
      <source_ip>${ip(rand)}</source_ip>
      <count>${count(rand)}</count>
      <policy_evaluated>
        <disposition>${disposition}</disposition>
        <dkim>${dkimPass ? 'pass' : 'fail'}</dkim>
        <spf>${spfPass && envelopeFrom.endsWith(domain) ? 'pass' : 'fail'}</spf>${reasons}
      </policy_evaluated>
    </row>
    <identifiers>${identifiers.join('')}
    </identifiers>
    <auth_results>${auth}
    </auth_results>
  </record>
`;
}

function resolve(options: SyntheticReportOptions): Required<SyntheticReportOptions> {
  const seed = options.seed ?? 1;
  return {
    records: options.records,
    seed,
    domain: options.domain ?? 'example.com',
    orgName: options.orgName ?? 'google.com',
    reportId: options.reportId ?? String(1_000_000_000_000_000_000n + BigInt(seed) * 7919n),
    beginEpoch: options.beginEpoch ?? 1_717_200_000,
  };
}

/** The report as a sequence of strings of a few dozen records each, so huge reports need no big buffer. */
export function* generateAggregateChunks(options: SyntheticReportOptions): Generator<string> {
  const o = resolve(options);
  const rand = prng(o.seed);
  yield header(o);
  for (let done = 0; done < o.records; ) {
    const n = Math.min(RECORDS_PER_CHUNK, o.records - done);
    let chunk = '';
    for (let i = 0; i < n; i++) chunk += record(rand, o.domain);
    done += n;
    yield chunk;
  }
  yield '</feedback>\n';
}

export function generateAggregateXml(options: SyntheticReportOptions): string {
  let xml = '';
  for (const chunk of generateAggregateChunks(options)) xml += chunk;
  return xml;
}
