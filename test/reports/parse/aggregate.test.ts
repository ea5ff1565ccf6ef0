import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAggregateChunks, generateAggregateXml } from '../../../bench/synthetic.js';
import { parseAggregate, parseAggregateStream, type AggregateParseOptions } from '../../../src/reports/parse/aggregate.js';
import { ReportError, type AggregateEvent, type AggregateReport, type ProblemCode } from '../../../src/reports/types.js';

// ---------------------------------------------------------------------------------------------
// Building reports

const METADATA =
  '<org_name>Receiver</org_name><email>dmarc@receiver.example</email><report_id>r-1</report_id>' +
  '<date_range><begin>1700000000</begin><end>1700086399</end></date_range>';
const POLICY = '<domain>example.com</domain><adkim>r</adkim><aspf>r</aspf><p>reject</p><sp>none</sp><pct>100</pct>';

interface RecordParts {
  ip?: string;
  count?: string;
  evaluated?: string;
  identifiers?: string;
  auth?: string;
  extra?: string;
}

function record(p: RecordParts = {}): string {
  return (
    '<record><row>' +
    `<source_ip>${p.ip ?? '192.0.2.1'}</source_ip><count>${p.count ?? '1'}</count>` +
    `<policy_evaluated>${p.evaluated ?? '<disposition>none</disposition><dkim>pass</dkim><spf>pass</spf>'}</policy_evaluated>` +
    `</row><identifiers>${p.identifiers ?? '<header_from>example.com</header_from>'}</identifiers>` +
    `<auth_results>${p.auth ?? '<dkim><domain>example.com</domain><selector>s1</selector><result>pass</result></dkim><spf><domain>example.com</domain><result>pass</result></spf>'}</auth_results>` +
    `${p.extra ?? ''}</record>`
  );
}

interface ReportParts {
  declaration?: string;
  open?: string;
  close?: string;
  version?: string;
  metadata?: string;
  policy?: string;
  records?: string[];
  /** Inserted after the records. */
  tail?: string;
}

function report(p: ReportParts = {}): string {
  return (
    (p.declaration ?? '<?xml version="1.0" encoding="UTF-8"?>\n') +
    (p.open ?? '<feedback>') +
    (p.version ?? '<version>1.0</version>') +
    `<report_metadata>${p.metadata ?? METADATA}</report_metadata>` +
    `<policy_published>${p.policy ?? POLICY}</policy_published>` +
    (p.records ?? [record()]).join('\n') +
    (p.tail ?? '') +
    (p.close ?? '</feedback>')
  );
}

const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const parse = (xml: string | Uint8Array) => parseAggregate(typeof xml === 'string' ? bytes(xml) : xml);

async function* chunked(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function events(source: AsyncIterable<Uint8Array>, options?: AggregateParseOptions): Promise<AggregateEvent[]> {
  const out: AggregateEvent[] = [];
  for await (const event of parseAggregateStream(source, options)) out.push(event);
  return out;
}

async function refusal(xml: string | Uint8Array | Promise<unknown>): Promise<ReportError> {
  try {
    await (xml instanceof Promise ? xml : parse(xml));
  } catch (error) {
    if (error instanceof ReportError) return error;
    throw error;
  }
  throw new Error('expected a ReportError');
}

async function expectRefused(xml: string | Uint8Array, code: ProblemCode, message?: RegExp): Promise<ReportError> {
  const error = await refusal(xml);
  expect(error.code).toBe(code);
  if (message) expect(error.message).toMatch(message);
  return error;
}

// ---------------------------------------------------------------------------------------------

describe('a plain report', () => {
  it('parses header, record and auth results', async () => {
    const r = await parse(report());
    expect(r).toEqual<AggregateReport>({
      version: '1.0',
      namespace: null,
      metadata: {
        orgName: 'Receiver',
        email: 'dmarc@receiver.example',
        extraContactInfo: null,
        reportId: 'r-1',
        beginAt: new Date(1700000000 * 1000),
        endAt: new Date(1700086399 * 1000),
        errors: [],
        generator: null,
      },
      policy: {
        domain: 'example.com',
        adkim: 'r',
        aspf: 'r',
        p: 'reject',
        sp: 'none',
        np: null,
        pct: 100,
        fo: null,
        testing: null,
        discoveryMethod: null,
      },
      records: [
        {
          sourceIp: '192.0.2.1',
          count: 1,
          disposition: 'none',
          dkim: 'pass',
          spf: 'pass',
          reasons: [],
          headerFrom: 'example.com',
          envelopeFrom: null,
          envelopeTo: null,
          dkimResults: [{ domain: 'example.com', selector: 's1', result: 'pass', humanResult: null }],
          spfResults: [{ domain: 'example.com', scope: null, result: 'pass', humanResult: null }],
        },
      ],
      warnings: [],
      extensions: [],
    });
  });

  it('accepts zero records', async () => {
    const r = await parse(report({ records: [] }));
    expect(r.records).toEqual([]);
    expect(r.warnings).toEqual([]);
  });

  it('reads extra_contact_info, errors and an email in angle brackets', async () => {
    const r = await parse(
      report({
        metadata:
          '<org_name>Receiver</org_name><email> &lt;dmarc@receiver.example&gt; </email>' +
          '<extra_contact_info>https://receiver.example/dmarc</extra_contact_info><report_id>r-1</report_id>' +
          '<date_range><begin>1700000000</begin><end>1700086399</end></date_range>' +
          '<error>DNS timeout for _dmarc.example.com</error><error> second </error><error/>',
      }),
    );
    expect(r.metadata.email).toBe('dmarc@receiver.example');
    expect(r.metadata.extraContactInfo).toBe('https://receiver.example/dmarc');
    expect(r.metadata.errors).toEqual(['DNS timeout for _dmarc.example.com', 'second']);
  });

  it('accepts an empty org_name when there is an email', async () => {
    const r = await parse(report({ metadata: METADATA.replace('<org_name>Receiver</org_name>', '<org_name></org_name>') }));
    expect(r.metadata.orgName).toBe('');
    expect(r.metadata.email).toBe('dmarc@receiver.example');
  });

  it('keeps report ids with special characters as written', async () => {
    const r = await parse(report({ metadata: METADATA.replace('r-1', ' &lt;a$b=c@d&gt; ') }));
    expect(r.metadata.reportId).toBe('<a$b=c@d>');
  });
});

describe('namespaces', () => {
  it.each([
    ['no namespace', '<feedback>', null],
    ['RFC 9990', '<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">', 'urn:ietf:params:xml:ns:dmarc-2.0'],
    ['draft', '<feedback xmlns="http://dmarc.org/dmarc-xml/0.2">', 'http://dmarc.org/dmarc-xml/0.2'],
    [
      'unused xsi/xsd (Microsoft)',
      '<feedback xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">',
      null,
    ],
  ])('%s', async (_name, open, namespace) => {
    const r = await parse(report({ open }));
    expect(r.namespace).toBe(namespace);
    expect(r.records).toHaveLength(1);
  });

  it('reads a prefixed ns1:feedback root with unprefixed children (old AOL)', async () => {
    const r = await parse(
      report({
        open:
          "<ns1:feedback xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' xmlns:ns1='http://dmarc.org/dmarc-xml/0.1' " +
          "xsi:schemaLocation='http://dmarc.org/dmarc-xml/0.1 dmarc_agg_report.xsd'>",
        close: '</ns1:feedback>',
      }),
    );
    expect(r.namespace).toBe('http://dmarc.org/dmarc-xml/0.1');
    expect(r.records).toHaveLength(1);
  });

  it('reads a report where every element carries the prefix', async () => {
    const xml = report({ open: '<d:feedback xmlns:d="urn:ietf:params:xml:ns:dmarc-2.0">', close: '</d:feedback>' }).replace(
      /<(\/?)(?!d:|\?)([a-z_]+)/g,
      '<$1d:$2',
    );
    const r = await parse(xml);
    expect(r.namespace).toBe('urn:ietf:params:xml:ns:dmarc-2.0');
    expect(r.metadata.reportId).toBe('r-1');
    expect(r.records[0]!.dkimResults).toHaveLength(1);
  });
});

describe('version', () => {
  it.each([
    ['absent', '', null],
    ['0.1 (Amazon SES)', '<version>0.1</version>', '0.1'],
    ['0 (Outlook)', '<version>0</version>', '0'],
    ['2.0 (drafts)', '<version>2.0</version>', '2.0'],
    ['with whitespace', '<version> 1.0 </version>', '1.0'],
  ])('%s', async (_name, version, expected) => {
    expect((await parse(report({ version }))).version).toBe(expected);
  });

  it('is also read inside report_metadata (DMARCbis drafts)', async () => {
    const r = await parse(report({ version: '', metadata: `<version>2.0</version>${METADATA}` }));
    expect(r.version).toBe('2.0');
  });
});

describe('tolerated values', () => {
  it('accepts float epochs and whitespace inside numbers', async () => {
    const r = await parse(
      report({
        metadata: METADATA.replace('<begin>1700000000</begin>', '<begin>1337270400.0</begin>').replace(
          '<end>1700086399</end>',
          '<end>\n  1337356799 </end>',
        ),
        records: [record({ count: ' 12\n' })],
        policy: POLICY.replace('<pct>100</pct>', '<pct> 50 </pct>'),
      }),
    );
    expect(r.metadata.beginAt.toISOString()).toBe('2012-05-17T16:00:00.000Z');
    expect(r.metadata.endAt.toISOString()).toBe('2012-05-18T15:59:59.000Z');
    expect(r.records[0]!.count).toBe(12);
    expect(r.policy.pct).toBe(50);
  });

  it('accepts begin == end', async () => {
    const r = await parse(report({ metadata: METADATA.replace('1700086399', '1700000000') }));
    expect(r.metadata.endAt).toEqual(r.metadata.beginAt);
  });

  it('lower-cases enumerated values and domains, keeps human_result and comments as written', async () => {
    const r = await parse(
      report({
        policy: '<domain>Example.COM</domain><adkim>S</adkim><aspf>R</aspf><p>Quarantine</p><sp>None</sp><np>Reject</np>',
        records: [
          record({
            evaluated:
              '<disposition>Quarantine</disposition><dkim>Fail</dkim><spf>Pass</spf>' +
              '<reason><type>Local_Policy</type><comment>Arc=Pass As Seen</comment></reason>',
            identifiers: '<header_from>Example.COM</header_from><envelope_from>Bounce.Example.COM</envelope_from>',
            auth:
              '<dkim><domain>Example.COM</domain><selector>Sel1</selector><result>Pass</result><human_result>Good Signature</human_result></dkim>' +
              '<spf><domain>Example.COM</domain><scope>MFrom</scope><result>SoftFail</result><human_result>~all Matched</human_result></spf>',
          }),
        ],
      }),
    );
    expect(r.policy).toMatchObject({ domain: 'example.com', adkim: 's', aspf: 'r', p: 'quarantine', sp: 'none', np: 'reject' });
    const rec = r.records[0]!;
    expect(rec).toMatchObject({
      disposition: 'quarantine',
      dkim: 'fail',
      spf: 'pass',
      headerFrom: 'example.com',
      envelopeFrom: 'bounce.example.com',
      reasons: [{ type: 'local_policy', comment: 'Arc=Pass As Seen' }],
    });
    expect(rec.dkimResults).toEqual([{ domain: 'example.com', selector: 'Sel1', result: 'pass', humanResult: 'Good Signature' }]);
    expect(rec.spfResults).toEqual([{ domain: 'example.com', scope: 'mfrom', result: 'softfail', humanResult: '~all Matched' }]);
  });

  it('trims whitespace around every value', async () => {
    const r = await parse(
      report({
        metadata: METADATA.replace('<org_name>Receiver</org_name>', '<org_name>\r\n  Receiver  \r\n</org_name>'),
        records: [
          record({
            ip: '\n 192.0.2.7 \n',
            identifiers: '<header_from>\n example.com \n</header_from><envelope_to> example.net </envelope_to>',
          }),
        ],
      }),
    );
    expect(r.metadata.orgName).toBe('Receiver');
    expect(r.records[0]).toMatchObject({ sourceIp: '192.0.2.7', headerFrom: 'example.com', envelopeTo: 'example.net' });
  });

  it('reads auth results in any order: spf before dkim', async () => {
    const r = await parse(
      report({
        records: [
          record({
            auth:
              '<spf><domain>a.example</domain><result>fail</result></spf>' +
              '<dkim><domain>b.example</domain><result>pass</result></dkim>' +
              '<spf><domain>c.example</domain><scope>helo</scope><result>pass</result></spf>' +
              '<dkim><domain>d.example</domain><selector>s</selector><result>fail</result></dkim>',
          }),
        ],
      }),
    );
    const rec = r.records[0]!;
    expect(rec.dkimResults.map((d) => d.domain)).toEqual(['b.example', 'd.example']);
    expect(rec.spfResults.map((s) => s.domain)).toEqual(['a.example', 'c.example']);
    expect(rec.dkimResults[0]!.selector).toBeNull();
  });

  it('reads records whose parts come in another order', async () => {
    const xml = report({
      records: [
        '<record><auth_results><spf><domain>example.com</domain><result>pass</result></spf></auth_results>' +
          '<identifiers><header_from>example.com</header_from></identifiers>' +
          '<row><policy_evaluated><spf>pass</spf><dkim>fail</dkim><disposition>none</disposition></policy_evaluated>' +
          '<count>3</count><source_ip>198.51.100.4</source_ip></row></record>',
      ],
    });
    const rec = (await parse(xml)).records[0]!;
    expect(rec).toMatchObject({ sourceIp: '198.51.100.4', count: 3, dkim: 'fail', spf: 'pass', headerFrom: 'example.com' });
  });

  it('reads 0 dkim and 300 spf results (NetEase)', async () => {
    const spf = Array.from({ length: 300 }, (_, i) => `<spf><domain>d${i}.example</domain><result>pass</result></spf>`).join('');
    const rec = (await parse(report({ records: [record({ auth: spf })] }))).records[0]!;
    expect(rec.dkimResults).toEqual([]);
    expect(rec.spfResults).toHaveLength(300);
    expect(rec.spfResults[299]!.domain).toBe('d299.example');
  });

  it('accepts policy_evaluated without dkim/spf (old AOL)', async () => {
    const rec = (await parse(report({ records: [record({ evaluated: '<disposition>none</disposition>' })] }))).records[0]!;
    expect(rec.dkim).toBeNull();
    expect(rec.spf).toBeNull();
  });

  it('turns an empty envelope_from into null and an SPF domain NULL into ""', async () => {
    const rec = (
      await parse(
        report({
          records: [
            record({
              identifiers: '<header_from>example.com</header_from><envelope_from></envelope_from><envelope_to/>',
              auth: '<spf><domain>NULL</domain><result>none</result></spf><spf><domain></domain><result>none</result></spf>',
            }),
          ],
        }),
      )
    ).records[0]!;
    expect(rec.envelopeFrom).toBeNull();
    expect(rec.envelopeTo).toBeNull();
    expect(rec.spfResults.map((s) => s.domain)).toEqual(['', '']);
  });

  it('keeps disposition pass (RFC 9990)', async () => {
    const rec = (await parse(report({ records: [record({ evaluated: '<disposition>pass</disposition><dkim>pass</dkim><spf>pass</spf>' })] })))
      .records[0]!;
    expect(rec.disposition).toBe('pass');
  });

  it('keeps a Google reason comment verbatim', async () => {
    const comment = "550-5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy.";
    const rec = (
      await parse(
        report({
          records: [
            record({
              evaluated:
                '<disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf>' +
                `<reason><type>local_policy</type><comment>${comment}</comment></reason>` +
                '<reason><type>other</type><comment>arc=pass</comment></reason><reason><type>forwarded</type></reason>',
            }),
          ],
        }),
      )
    ).records[0]!;
    expect(rec.reasons).toEqual([
      { type: 'local_policy', comment },
      { type: 'other', comment: 'arc=pass' },
      { type: 'forwarded', comment: null },
    ]);
  });

  it('normalises IPv6 source addresses', async () => {
    const ips = ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2a00:1450:4864:20::b2a', '::FFFF:192.0.2.1', '2001:db8:0:0:1::1'];
    const r = await parse(report({ records: ips.map((ip) => record({ ip })) }));
    expect(r.records.map((x) => x.sourceIp)).toEqual(['2001:db8::1', '2a00:1450:4864:20::b2a', '::ffff:192.0.2.1', '2001:db8::1:0:0:1']);
  });

  it('reads the RFC 9990 policy fields and generator', async () => {
    const r = await parse(
      report({
        open: '<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">',
        metadata: `${METADATA}<generator>Receiver DMARC 3.1</generator>`,
        policy:
          '<domain>example.com</domain><discovery_method>TreeWalk</discovery_method><p>reject</p><sp>quarantine</sp>' +
          '<np>reject</np><fo>1:d</fo><testing>Y</testing>',
      }),
    );
    expect(r.metadata.generator).toBe('Receiver DMARC 3.1');
    expect(r.policy).toMatchObject({ np: 'reject', fo: '1:d', testing: 'y', discoveryMethod: 'treewalk', pct: null, adkim: null });
  });

  it('reads the draft <t> element as testing', async () => {
    const r = await parse(report({ policy: `${POLICY}<t>n</t>` }));
    expect(r.policy.testing).toBe('n');
  });

  it('ignores an invalid pct with a warning', async () => {
    const r = await parse(report({ policy: POLICY.replace('<pct>100</pct>', '<pct>a lot</pct>') }));
    expect(r.policy.pct).toBeNull();
    expect(r.warnings).toEqual(['policy_published/pct "a lot" is not a percentage; it was ignored.']);
  });

  it('ignores unknown elements, comments and processing instructions', async () => {
    const r = await parse(
      report({
        metadata: `<!-- c --><unknown-tag1><unknown-tag2>x</unknown-tag2></unknown-tag1>${METADATA}<?pi data?>`,
        records: [record({ extra: '<unknown><source_ip>203.0.113.1</source_ip></unknown>' })],
      }),
    );
    expect(r.records[0]!.sourceIp).toBe('192.0.2.1');
    expect(r.extensions).toEqual([]);
  });

  it('reads the text of a value around an unknown child element', async () => {
    const r = await parse(
      report({ metadata: METADATA.replace('Receiver', 'Rec<x>junk<![CDATA[more]]><y>deeper</y></x>eiver') }),
    );
    expect(r.metadata.orgName).toBe('Receiver');
  });

  it('reads CDATA sections and entities in values', async () => {
    const rec = (
      await parse(
        report({
          records: [
            record({
              evaluated:
                '<disposition>none</disposition><reason><type>other</type>' +
                '<comment><![CDATA[a <b> & c]]> &amp; d &#x263A;</comment></reason>',
            }),
          ],
        }),
      )
    ).records[0]!;
    expect(rec.reasons[0]!.comment).toBe('a <b> & c & d \u263A');
  });
});

describe('extensions', () => {
  it('keeps report-level and record-level extension elements as XML text, in document order', async () => {
    const r = await parse(
      report({
        open: '<feedback xmlns:ext="https://ext.example/1">',
        records: [
          record({
            extra:
              '<extensions><extension name="threat" definition="https://ext.example/spec"><data a="1 &amp; 2">x &lt; y</data><empty/></extension></extensions>',
          }),
          record({ extra: '<ext:score>7</ext:score>' }),
        ],
        tail: '<extension><ext:feed>on</ext:feed></extension>',
      }),
    );
    expect(r.extensions).toEqual([
      '<extension name="threat" definition="https://ext.example/spec"><data a="1 &amp; 2">x &lt; y</data><empty/></extension>',
      '<ext:score>7</ext:score>',
      '<extension><ext:feed>on</ext:feed></extension>',
    ]);
    expect(r.records).toHaveLength(2);
  });

  it('ignores empty <extensions> containers', async () => {
    const r = await parse(report({ records: [record({ extra: '<extensions>\n</extensions>' })], tail: '<extensions> </extensions>' }));
    expect(r.extensions).toEqual([]);
  });
});

describe('dropped and repaired records', () => {
  it('drops the o2.pl placeholder record (empty source_ip, count 0) with a warning', async () => {
    const placeholder = record({
      ip: '',
      count: '0',
      evaluated: '<disposition></disposition><dkim></dkim><spf></spf>',
      identifiers: '<header_from></header_from>',
      auth: '<spf><domain></domain><result></result></spf>',
    });
    const r = await parse(report({ records: [placeholder] }));
    expect(r.records).toEqual([]);
    expect(r.warnings).toEqual(['Dropped 1 record whose source_ip is empty or not an IP address (record 1: "").']);
  });

  it('drops records with an invalid source_ip or count, counting them in one warning per kind', async () => {
    const r = await parse(
      report({
        records: [
          record({ ip: '108r.166.27.220' }),
          record({ count: '-3' }),
          record({ count: 'many' }),
          record({ count: '2147483648' }),
          record({ count: '2147483647' }),
          record({ ip: '300.1.1.1' }),
          record({ ip: 'fe80::1%eth0' }),
          record({ ip: '10.0.0.1', count: '1.0' }),
          record({ ip: '01.2.3.4' }),
          record({ ip: '1.2.3.4.5' }),
        ],
      }),
    );
    expect(r.records.map((x) => [x.sourceIp, x.count])).toEqual([
      ['192.0.2.1', 2147483647],
      ['10.0.0.1', 1],
    ]);
    expect(r.warnings).toEqual([
      'Dropped 5 records whose source_ip is empty or not an IP address (record 1: "108r.166.27.220"; record 6: "300.1.1.1"; record 7: "fe80::1%eth0"; 2 more).',
      'Dropped 3 records whose count is not a whole number from 0 to 2147483647 (record 2: "-3"; record 3: "many"; record 4: "2147483648").',
    ]);
  });

  it('uses the policy domain when header_from is missing, with a warning', async () => {
    const r = await parse(report({ records: [record({ identifiers: '' }), record({ identifiers: '<header_from> </header_from>' }), record()] }));
    expect(r.records.map((x) => x.headerFrom)).toEqual(['example.com', 'example.com', 'example.com']);
    expect(r.warnings).toEqual(['2 records had no header_from; the policy domain example.com was used instead (record 1; record 2).']);
  });

  it('keeps a record without disposition, with a warning', async () => {
    const r = await parse(report({ records: [record({ evaluated: '<disposition/><dkim>pass</dkim>' })] }));
    expect(r.records[0]!.disposition).toBe('');
    expect(r.warnings).toEqual(['1 record had no disposition; it was left empty (record 1).']);
  });
});

describe('refused reports', () => {
  it('refuses a report without report_id, naming what is missing', async () => {
    await expectRefused(
      report({ metadata: METADATA.replace('<report_id>r-1</report_id>', '') }),
      'missing_identity',
      /no report_metadata\/report_id\./,
    );
  });

  it('refuses the <data_range> typo, naming the element it did not recognise', async () => {
    await expectRefused(
      report({ metadata: METADATA.replace(/date_range/g, 'data_range') }),
      'missing_identity',
      /no report_metadata\/date_range\. Elements that were not recognised: <data_range>\./,
    );
  });

  it('refuses a report without reporter, policy domain or date', async () => {
    const error = await expectRefused(
      report({
        metadata: '<report_id>r-1</report_id><date_range><begin>1700000000</begin></date_range>',
        policy: '<p>none</p>',
      }),
      'missing_identity',
    );
    expect(error.message).toContain(
      'no reporter (report_metadata/org_name or email), report_metadata/date_range/end, policy_published/domain.',
    );
  });

  it('refuses a report without policy_published or report_metadata at all', async () => {
    await expectRefused('<feedback><record/></feedback>', 'missing_identity', /report_metadata\/report_id.*policy_published\b/);
  });

  it('refuses a date range that ends before it begins', async () => {
    await expectRefused(
      report({ metadata: METADATA.replace('1700086399', '1699999999') }),
      'invalid_report',
      /ends \(2023-11-14T22:13:19\.000Z\) before it begins \(2023-11-14T22:13:20\.000Z\)/,
    );
  });

  it('refuses a date that is not a number', async () => {
    await expectRefused(report({ metadata: METADATA.replace('1700000000', 'yesterday') }), 'invalid_report', /begin.*"yesterday"/);
  });

  it('refuses a document whose root is not <feedback>', async () => {
    await expectRefused('<?xml version="1.0"?><xs:schema xmlns:xs="x"><feedback/></xs:schema>', 'not_a_report', /<xs:schema>/);
  });

  it('refuses a document that is not XML', async () => {
    await expectRefused('{"organization-name":"x"}', 'not_a_report', /not XML/);
  });

  it('refuses an empty document', async () => {
    await expectRefused(new Uint8Array(0), 'empty');
    await expectRefused(' \r\n\t ', 'empty');
  });
});

describe('XML safety', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dmarcwatch-xxe-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a billion-laughs DTD without expanding it', async () => {
    const entities = Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`).join('\n');
    const xml = `<?xml version="1.0"?>\n<!DOCTYPE feedback [\n<!ENTITY lol0 "lol">\n${entities}\n]>\n${report({ declaration: '' }).replace('r-1', '&lol9;')}`;
    const started = Date.now();
    await expectRefused(xml, 'dtd_refused', /<!DOCTYPE>/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('refuses external entities without reading the file or fetching the URL', async () => {
    const secret = path.join(dir, 'secret.txt');
    writeFileSync(secret, 'TOP-SECRET-CONTENT');
    let requests = 0;
    const server = createServer((_req, res) => {
      requests++;
      res.end('TOP-SECRET-CONTENT');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      for (const system of [`file://${secret}`, secret, `http://127.0.0.1:${port}/secret`]) {
        const xml =
          `<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY xxe SYSTEM "${system}">]>` +
          report({ declaration: '' }).replace('r-1', '&xxe;');
        const error = await expectRefused(xml, 'dtd_refused');
        expect(error.message).not.toContain('TOP-SECRET');
      }
      const parameter = `<?xml version="1.0"?><!DOCTYPE feedback SYSTEM "http://127.0.0.1:${port}/dtd">${report({ declaration: '' })}`;
      await expectRefused(parameter, 'dtd_refused');
      expect(requests).toBe(0);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('refuses an undefined entity as malformed XML', async () => {
    await expectRefused(report({ metadata: METADATA.replace('r-1', 'r&nbsp;1') }), 'malformed_xml', /entity reference that XML does not define/);
  });

  it('refuses 100,000 levels of nesting without overflowing the stack', async () => {
    const depth = 100_000;
    const xml = `<feedback>${'<a>'.repeat(depth)}${'</a>'.repeat(depth)}</feedback>`;
    await expectRefused(xml, 'malformed_xml', /nests elements more than 64 levels deep \(line 1\)/);
  });

  it('honours maxDepth', async () => {
    const xml = bytes(report());
    await expect(events(chunked(xml, 1 << 16), { maxDepth: 5 })).resolves.toHaveLength(3);
    const error = await refusal(events(chunked(xml, 1 << 16), { maxDepth: 4 }));
    expect(error.message).toMatch(/more than 4 levels/);
  });

  it('refuses a truncated document, saying it is probably truncated', async () => {
    const xml = report();
    for (const cut of [xml.length - 5, xml.indexOf('<record>') + 20, xml.indexOf('</policy_published>')]) {
      await expectRefused(xml.slice(0, cut), 'malformed_xml', /truncated/);
    }
  });

  it('refuses mismatched tags with the position and the tag expected', async () => {
    const xml = '<feedback>\n<report_metadata>\n<org_name>x</org_name>\n</feedback>';
    await expectRefused(xml, 'malformed_xml', /^The XML is malformed at line 4, column 11: expected <\/report_metadata>/);
  });

  it('points at an unescaped < or & in a value', async () => {
    await expectRefused(report({ records: [record({ identifiers: '<header_from>example.com<foo</header_from>' })] }), 'malformed_xml', /"&lt;"/);
    await expectRefused(
      report({ metadata: METADATA.replace('Receiver', 'A & B') }),
      'malformed_xml',
      /a literal "&" followed by " B" was never ended by ";"\. .*"&amp;"/,
    );
    await expectRefused(report({ metadata: METADATA.replace('Receiver', 'A & B;') }), 'malformed_xml', /"&amp;"/);
  });

  it('counts the line breaks dropped before the declaration in error positions', async () => {
    await expectRefused(
      '\n\n<?xml version="1.0"?>\n<feedback>\n</feed>',
      'malformed_xml',
      /^The XML is malformed at line 5, column 7: expected <\/feedback> but found a different closing tag/,
    );
  });
});

describe('declarations and encodings', () => {
  it('accepts whitespace before the XML declaration', async () => {
    const r = await parse(`\r\n  \t${report()}`);
    expect(r.records).toHaveLength(1);
  });

  it('accepts a single-quoted declaration with standalone=, and no declaration at all', async () => {
    expect((await parse(report({ declaration: "<?xml version='1.0' encoding='utf-8' standalone='yes'?>" }))).records).toHaveLength(1);
    expect((await parse(report({ declaration: '' }))).records).toHaveLength(1);
  });

  it('accepts a UTF-8 byte order mark', async () => {
    const r = await parse(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(report())]));
    expect(r.records).toHaveLength(1);
  });

  it('decodes windows-1252 and ISO-8859-1', async () => {
    for (const encoding of ['windows-1252', 'ISO-8859-1', 'us-ascii']) {
      const xml = report({ declaration: `<?xml version="1.0" encoding="${encoding}"?>`, metadata: METADATA.replace('Receiver', 'Receiv\u00e9r') });
      const data = Buffer.from(xml, 'latin1');
      expect(data.includes(0xe9)).toBe(true);
      expect((await parse(data)).metadata.orgName).toBe('Receiv\u00e9r');
    }
    const euro = Buffer.from(report({ declaration: '<?xml version="1.0" encoding="windows-1252"?>', metadata: METADATA.replace('Receiver', 'X') }), 'latin1');
    const at = euro.indexOf('<org_name>X') + '<org_name>'.length;
    euro[at] = 0x80;
    expect((await parse(euro)).metadata.orgName).toBe('\u20ac');
  });

  it('decodes UTF-16LE and UTF-16BE with a byte order mark', async () => {
    const xml = report({ declaration: '<?xml version="1.0" encoding="UTF-16"?>', metadata: METADATA.replace('Receiver', 'R\u00e9ceiver \u263A') });
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xml, 'utf16le')]);
    const be = Buffer.from(le);
    be.swap16();
    for (const data of [le, be]) {
      const r = await parse(data);
      expect(r.metadata.orgName).toBe('R\u00e9ceiver \u263A');
      expect(r.records).toHaveLength(1);
    }
  });

  it('decodes UTF-16 without a byte order mark', async () => {
    const r = await parse(Buffer.from(report({ declaration: '' }), 'utf16le'));
    expect(r.records).toHaveLength(1);
  });

  it('replaces invalid UTF-8 by U+FFFD and says so', async () => {
    const xml = Buffer.from(report({ metadata: METADATA.replace('Receiver', 'Re@@ceiver') }));
    const at = xml.indexOf('@@');
    xml[at] = 0xff;
    xml[at + 1] = 0xe9;
    const r = await parse(xml);
    expect(r.metadata.orgName).toBe('Re\uFFFD\uFFFDceiver');
    expect(r.warnings).toEqual(['2 sequences of bytes were not valid UTF-8 and were replaced by the character U+FFFD (\uFFFD).']);
  });

  it('refuses an encoding it cannot read', async () => {
    await expectRefused(report({ declaration: '<?xml version="1.0" encoding="Shift_JIS"?>' }), 'unsupported_encoding', /"Shift_JIS".*UTF-8/);
    await expectRefused(
      Buffer.concat([Buffer.from([0xff, 0xfe, 0, 0]), Buffer.from(report(), 'utf16le')]),
      'unsupported_encoding',
      /UTF-32/,
    );
  });

  it('ignores content after the closing </feedback>, with a warning', async () => {
    const r = await parse(`${report()}\n<feedback>junk</feedback>\0garbage`);
    expect(r.records).toHaveLength(1);
    expect(r.warnings).toEqual(['Content after the closing </feedback> tag was ignored.']);
  });
});

describe('streaming', () => {
  it('gives the same result whatever the chunk size, down to one byte', async () => {
    const xml = bytes(
      report({
        open: '<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">',
        metadata: METADATA.replace('Receiver', 'R\u00e9ceiver \u263A \u{1F600}'),
        records: [
          record({ ip: '2001:db8::1' }),
          record({ evaluated: '<disposition>none</disposition><reason><type>other</type><comment>a &amp; b</comment></reason>' }),
          record({ extra: '<extensions><extension name="x"><v>1</v></extension></extensions>' }),
        ],
      }),
    );
    const whole = await events(chunked(xml, xml.length));
    expect(whole.map((e) => e.type)).toEqual(['header', 'records', 'end']);
    for (const size of [1, 2, 3, 7, 64]) {
      expect(await events(chunked(xml, size))).toEqual(whole);
    }
  });

  it('decodes a multi-byte character split across chunks', async () => {
    const xml = bytes(report({ metadata: METADATA.replace('Receiver', '\u00e9\u20ac\u{1F600}') }));
    const at = xml.indexOf(0xf0); // first byte of the 4-byte emoji
    const pieces = [xml.subarray(0, at + 2), xml.subarray(at + 2, at + 3), xml.subarray(at + 3)];
    async function* source() {
      yield* pieces;
    }
    const r = await parseAggregate(source());
    expect(r.metadata.orgName).toBe('\u00e9\u20ac\u{1F600}');
    expect(r.warnings).toEqual([]);
  });

  it('yields the header first, then batches summing to the record count, then end', async () => {
    const xml = bytes(generateAggregateXml({ records: 2000, seed: 42 }));
    const all = await events(chunked(xml, 65536));
    expect(all[0]!.type).toBe('header');
    expect(all.at(-1)!.type).toBe('end');
    const batches = all.slice(1, -1);
    expect(batches.every((e) => e.type === 'records')).toBe(true);
    const sizes = batches.map((e) => (e.type === 'records' ? e.records.length : 0));
    expect(sizes).toEqual([1000, 1000]);
    const small = await events(chunked(xml, 4096), { batchSize: 300 });
    expect(small.slice(1, -1).map((e) => (e.type === 'records' ? e.records.length : 0))).toEqual([300, 300, 300, 300, 300, 300, 200]);
  });

  it('holds records back until the header is complete', async () => {
    const xml =
      `<feedback>${record({ ip: '192.0.2.10', identifiers: '' })}${record({ ip: '192.0.2.11' })}` +
      `<report_metadata>${METADATA}</report_metadata>${record({ ip: '192.0.2.12' })}` +
      `<policy_published>${POLICY}</policy_published>${record({ ip: '192.0.2.13' })}</feedback>`;
    const all = await events(chunked(bytes(xml), 1), { batchSize: 2 });
    expect(all.map((e) => e.type)).toEqual(['header', 'records', 'records', 'end']);
    const records = all.flatMap((e) => (e.type === 'records' ? e.records : []));
    expect(records.map((r) => r.sourceIp)).toEqual(['192.0.2.10', '192.0.2.11', '192.0.2.12', '192.0.2.13']);
    expect(records[0]!.headerFrom).toBe('example.com');
  });

  it('streams a generated report without holding it whole', async () => {
    async function* source() {
      for (const chunk of generateAggregateChunks({ records: 5000, seed: 7 })) yield bytes(chunk);
    }
    let records = 0;
    for await (const event of parseAggregateStream(source())) if (event.type === 'records') records += event.records.length;
    expect(records).toBe(5000);
  });

  it('fails a stream part-way when the document turns out malformed', async () => {
    const xml = generateAggregateXml({ records: 3000, seed: 1 });
    const cut = bytes(xml.slice(0, Math.floor(xml.length * 0.9)));
    const seen: string[] = [];
    const error = await refusal(
      (async () => {
        for await (const event of parseAggregateStream(chunked(cut, 8192))) seen.push(event.type);
      })(),
    );
    expect(error.code).toBe('malformed_xml');
    expect(seen.slice(0, 3)).toEqual(['header', 'records', 'records']);
    expect(seen).not.toContain('end');
  });

  it('rejects invalid options', async () => {
    await expect(parseAggregateStream(chunked(bytes(report()), 10), { batchSize: 0 }).next()).rejects.toThrow(RangeError);
  });
});

describe('synthetic reports', () => {
  it('are deterministic for a seed and parse cleanly', async () => {
    const a = generateAggregateXml({ records: 300, seed: 5, domain: 'example.org', orgName: 'receiver.example', reportId: 'x-1', beginEpoch: 1_700_000_000 });
    expect(generateAggregateXml({ records: 300, seed: 5, domain: 'example.org', orgName: 'receiver.example', reportId: 'x-1', beginEpoch: 1_700_000_000 })).toBe(a);
    expect(generateAggregateXml({ records: 300, seed: 6 })).not.toBe(generateAggregateXml({ records: 300, seed: 5 }));
    expect([...generateAggregateChunks({ records: 300, seed: 5, domain: 'example.org', orgName: 'receiver.example', reportId: 'x-1', beginEpoch: 1_700_000_000 })].join('')).toBe(a);
    const r = await parse(a);
    expect(r.metadata).toMatchObject({ orgName: 'receiver.example', reportId: 'x-1', beginAt: new Date(1_700_000_000_000) });
    expect(r.policy.domain).toBe('example.org');
    expect(r.records).toHaveLength(300);
    expect(r.warnings).toEqual([]);
    expect(r.records.some((x) => x.sourceIp.includes(':'))).toBe(true);
    expect(r.records.some((x) => x.dkimResults.length === 2)).toBe(true);
    expect(r.records.some((x) => x.spfResults.length === 2)).toBe(true);
    expect(r.records.some((x) => x.reasons.length > 0)).toBe(true);
    expect(r.records.some((x) => x.envelopeTo !== null)).toBe(true);
    expect(r.records.some((x) => x.spf === 'fail')).toBe(true);
  });
});
