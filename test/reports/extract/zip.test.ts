import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { extractBytes } from '../../../src/reports/extract/index.js';
import { DEFAULT_LIMITS } from '../../../src/reports/types.js';
import { buildZip } from '../../helpers/zip.js';
import { SAMPLE_JSON, SAMPLE_XML, collect, deflatedZeros, gz, peakRssGrowth, sha256, summary } from './fixtures.js';

const MiB = 1024 * 1024;

describe('zip archives', () => {
  it('extracts every file of an archive, stored or deflated, skipping directories', async () => {
    const zip = buildZip([
      { name: 'reports/', data: '' },
      { name: 'reports/a.xml', data: SAMPLE_XML },
      { name: 'b.json', data: SAMPLE_JSON, method: 'stored' },
      { name: 'c.xml.gz', data: gz(SAMPLE_XML) },
      { name: '__MACOSX/reports/._a.xml', data: Buffer.from([0, 5, 22, 7, 0, 2, 0, 0]) },
    ]);
    const result = await extractBytes(zip, 'r.zip');
    expect(summary(result)).toEqual({
      documents: ['xml r.zip › reports/a.xml', 'json r.zip › b.json', 'xml r.zip › c.xml.gz'],
      problems: [],
      messages: 0,
    });
    expect(result.documents[0]!.sha256).toBe(sha256(SAMPLE_XML));
    expect(result.documents[2]!.sha256).toBe(sha256(SAMPLE_XML));
    expect((await collect(result.documents[1]!.content)).toString()).toBe(SAMPLE_JSON);
  });

  it('opens a zip inside a zip, but not a third level', async () => {
    const inner = buildZip([{ name: 'inner.xml', data: SAMPLE_XML }]);
    const middle = buildZip([{ name: 'inner.zip', data: inner }]);
    const outer = buildZip([{ name: 'middle.zip', data: middle }]);
    expect(summary(await extractBytes(middle, 'middle.zip')).documents).toEqual(['xml middle.zip › inner.zip › inner.xml']);
    const result = await extractBytes(outer, 'outer.zip');
    expect(result.documents).toEqual([]);
    expect(result.problems).toEqual([{ code: 'too_deep', name: 'outer.zip › middle.zip › inner.zip', message: expect.any(String) }]);
  });

  it('refuses an archive with more entries than allowed without reading them', async () => {
    const entries = Array.from({ length: 10_000 }, (_, i) => ({ name: `r${i}.xml`, data: 'x', method: 'stored' as const }));
    const result = await extractBytes(buildZip(entries), 'many.zip');
    expect(result.documents).toEqual([]);
    expect(result.problems).toEqual([{ code: 'too_many_entries', name: 'many.zip', message: expect.stringContaining('10000') }]);
  });

  it('refuses encrypted entries and unknown methods, and still reads the others', async () => {
    const zip = buildZip([
      { name: 'secret.xml', data: SAMPLE_XML, encrypted: true, method: 'stored' },
      { name: 'bzip2.xml', data: SAMPLE_XML, method: 12 },
      { name: 'deflate64.xml', data: SAMPLE_XML, method: 9 },
      { name: 'ok.xml', data: SAMPLE_XML },
    ]);
    expect(summary(await extractBytes(zip, 'z.zip'))).toEqual({
      documents: ['xml z.zip › ok.xml'],
      problems: ['unsupported_compression z.zip › secret.xml', 'unsupported_compression z.zip › bzip2.xml', 'unsupported_compression z.zip › deflate64.xml'],
      messages: 0,
    });
  });

  it('keeps path-traversal names as plain names and writes nothing', async () => {
    const marker = `dmarcwatch-traversal-${process.pid}-${Date.now()}.xml`;
    const names = [`../../../../../../../../${os.tmpdir()}/${marker}`, `/${marker}`, `C:\\Windows\\${marker}`, `a/../../${marker}`];
    const result = await extractBytes(buildZip(names.map((name) => ({ name, data: SAMPLE_XML }))), 'evil.zip');
    expect(result.problems).toEqual([]);
    expect(result.documents.map((d) => d.name)).toEqual(names.map((name) => `evil.zip › ${name.replace(/\\/g, '/')}`));
    for (const dir of [os.tmpdir(), process.cwd(), path.parse(process.cwd()).root]) expect(existsSync(path.join(dir, marker))).toBe(false);
  });

  it('refuses a truncated archive', async () => {
    const zip = buildZip([{ name: 'a.xml', data: SAMPLE_XML }]);
    const result = await extractBytes(zip.subarray(0, zip.length - 30), 'cut.zip');
    expect(result.documents).toEqual([]);
    expect(result.problems).toEqual([{ code: 'corrupt_zip', name: 'cut.zip', message: expect.stringContaining('cannot be read') }]);
  });

  it('refuses a damaged entry or a checksum mismatch, and reads its siblings', async () => {
    const zip = buildZip([
      { name: 'bad-crc.xml', data: SAMPLE_XML, crc: 12345 },
      { name: 'bad-data.xml', data: 'x'.repeat(4000) + 'y'.repeat(4000) },
      { name: 'ok.xml', data: SAMPLE_XML },
    ]);
    const dataStart = zip.indexOf('bad-data.xml') + 'bad-data.xml'.length;
    zip.fill(0xff, dataStart, dataStart + 6);
    expect(summary(await extractBytes(zip, 'z.zip'))).toEqual({
      documents: ['xml z.zip › ok.xml'],
      problems: ['corrupt_zip z.zip › bad-crc.xml', 'corrupt_zip z.zip › bad-data.xml'],
      messages: 0,
    });
  });

  it('calls an archive without files empty', async () => {
    expect(summary(await extractBytes(buildZip([]), 'none.zip')).problems).toEqual(['empty none.zip']);
    expect(summary(await extractBytes(buildZip([{ name: 'dir/' }]), 'dirs.zip')).problems).toEqual(['empty dirs.zip']);
  });

  it('names an entry without a name by its position', async () => {
    expect(summary(await extractBytes(buildZip([{ name: '', data: SAMPLE_XML }]), 'x.zip')).documents).toEqual([
      'xml x.zip › (unnamed entry 1)',
    ]);
  });

  describe('zip bombs', () => {
    let gib: Awaited<ReturnType<typeof deflatedZeros>>;
    beforeAll(async () => {
      gib = await deflatedZeros(1024 * MiB);
    }, 60_000);

    it('refuses an entry whose declared size is over the cap without inflating it', async () => {
      const zip = buildZip([{ name: 'bomb.xml', raw: { bytes: gib.bytes, uncompressedSize: gib.size, crc: gib.crc } }]);
      const { result, ms } = await peakRssGrowth(() => extractBytes(zip, 'bomb.zip'));
      expect(result.problems).toEqual([{ code: 'too_large', name: 'bomb.zip › bomb.xml', message: expect.stringContaining('50 MiB') }]);
      expect(ms).toBeLessThan(1000);
    });

    it('stops inflating an entry that lies about its size as soon as it passes the cap', async () => {
      const zip = buildZip([
        { name: 'liar.xml', raw: { bytes: gib.bytes, uncompressedSize: 1000, crc: gib.crc } },
        { name: 'ok.xml', data: SAMPLE_XML },
      ]);
      const { result, growth } = await peakRssGrowth(() => extractBytes(zip, 'liar.zip'));
      expect(summary(result)).toEqual({ documents: ['xml liar.zip › ok.xml'], problems: ['too_large liar.zip › liar.xml'], messages: 0 });
      expect(growth).toBeLessThan(200 * MiB);
    });

    it('stops reading an archive whose entries together pass the budget', async () => {
      const limits = { ...DEFAULT_LIMITS, maxDocumentBytes: MiB, maxMailBytes: 2 * MiB };
      const entries = Array.from({ length: 6 }, (_, i) => ({ name: `${i}.xml`, data: '<' + ' '.repeat(900 * 1024) }));
      const result = await extractBytes(buildZip(entries), 'wide.zip', limits);
      expect(summary(result)).toEqual({
        documents: ['xml wide.zip › 0.xml', 'xml wide.zip › 1.xml'],
        problems: ['too_large wide.zip › 2.xml'],
        messages: 0,
      });
      expect(result.problems[0]!.message).toContain('the rest of the archive was not read');
    });
  });
});
