import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { extractBytes, extractFile, listImportFiles } from '../../../src/reports/extract/index.js';
import { DEFAULT_LIMITS } from '../../../src/reports/types.js';
import { buildMail, buildMbox } from '../../helpers/mail.js';
import { buildZip } from '../../helpers/zip.js';
import { PNG, SAMPLE_JSON, SAMPLE_XML, collect, deflatedZeros, gz, gzipAround, peakRssGrowth, sha256, summary, tempDir } from './fixtures.js';

const MiB = 1024 * 1024;
let dir: string;

beforeAll(async () => {
  dir = await tempDir();
});

async function write(name: string, bytes: Uint8Array | string): Promise<string> {
  const file = path.join(dir, name);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
  return file;
}

async function list(root: string): Promise<string[]> {
  const files: string[] = [];
  for await (const file of listImportFiles(root)) files.push(path.relative(root, file));
  return files;
}

describe('one report, any wrapper', () => {
  const mail = (body: Parameters<typeof buildMail>[0]['body']) => buildMail({ body });
  const wrappers: [string, Buffer][] = [
    ['plain', Buffer.from(SAMPLE_XML)],
    ['gzip', gz(SAMPLE_XML)],
    ['double gzip', gz(gz(SAMPLE_XML))],
    ['zip', buildZip([{ name: 'r.xml', data: SAMPLE_XML }])],
    ['stored zip in zip', buildZip([{ name: 'r.zip', data: buildZip([{ name: 'r.xml', data: SAMPLE_XML }]), method: 'stored' }])],
    ['gzip in zip', buildZip([{ name: 'r.xml.gz', data: gz(SAMPLE_XML) }])],
    ['mail with gzip', mail({ contentType: 'application/gzip', filename: 'r.xml.gz', content: gz(SAMPLE_XML) })],
    ['mail with quoted-printable xml', mail({ contentType: 'text/xml', filename: 'r.xml', content: SAMPLE_XML, encoding: 'quoted-printable' })],
    ['gzipped mail', gz(mail({ contentType: 'application/zip', filename: 'r.zip', content: buildZip([{ name: 'r.xml', data: SAMPLE_XML }]) }))],
    ['mbox', buildMbox([mail({ contentType: 'application/gzip', filename: 'r.xml.gz', content: gz(SAMPLE_XML) })])],
  ];

  it.each(wrappers)('%s gives the same size and sha256, in memory and from a file', async (label, bytes) => {
    const fromMemory = await extractBytes(bytes, label);
    const fromFile = await extractFile(await write(`same/${label.replace(/ /g, '-')}`, bytes));
    for (const result of [fromMemory, fromFile]) {
      expect(result.problems).toEqual([]);
      expect(result.documents).toHaveLength(1);
      expect(result.documents[0]).toMatchObject({ format: 'xml', size: Buffer.byteLength(SAMPLE_XML), sha256: sha256(SAMPLE_XML) });
      expect((await collect(result.documents[0]!.content)).toString()).toBe(SAMPLE_XML);
    }
  });
});

describe('extractFile', () => {
  it('streams a plain or gzip file: the content re-reads the file on every open', async () => {
    const file = await write('stream/r.xml.gz', gz(SAMPLE_JSON));
    const { documents } = await extractFile(file);
    expect(documents).toHaveLength(1);
    const doc = documents[0]!;
    expect(doc).toMatchObject({ name: 'r.xml.gz', format: 'json', sha256: sha256(SAMPLE_JSON) });
    expect((await collect(doc.content)).toString()).toBe(SAMPLE_JSON);
    expect((await collect(doc.content)).toString()).toBe(SAMPLE_JSON);
    // replaying a file that changed since it was measured fails instead of handing over other bytes
    await writeFile(file, gz(SAMPLE_JSON + ' '));
    await expect(collect(doc.content)).rejects.toThrow(/changed/);
  });

  it('processes a large .xml.gz with flat memory', async () => {
    const file = path.join(dir, 'large.xml.gz');
    const gzip = createGzip({ level: 1 });
    const done = once(gzip.pipe(createWriteStream(file)), 'close');
    const record = '<record><row><source_ip>192.0.2.1</source_ip><count>1</count></row></record>\n'.repeat(1000);
    gzip.write('<?xml version="1.0"?><feedback>');
    let size = 31;
    while (size < 200 * MiB) {
      if (!gzip.write(record)) await once(gzip, 'drain');
      size += record.length;
    }
    gzip.end('</feedback>');
    size += 11;
    await done;
    const { result, growth } = await peakRssGrowth(() => extractFile(file, { ...DEFAULT_LIMITS, maxDocumentBytes: 300 * MiB }));
    expect(result.problems).toEqual([]);
    expect(result.documents[0]!.size).toBe(size);
    expect(growth).toBeLessThan(100 * MiB);
  });

  it('refuses a gzip bomb quickly with bounded memory', async () => {
    const bomb = gzipAround(await deflatedZeros(1024 * MiB));
    expect(bomb.length).toBeLessThan(2 * MiB);
    const file = await write('bomb.xml.gz', bomb);
    for (const extract of [() => extractFile(file), () => extractBytes(bomb, 'bomb.xml.gz')]) {
      const { result, growth, ms } = await peakRssGrowth(extract);
      expect(result.documents).toEqual([]);
      expect(result.problems).toEqual([{ code: 'too_large', name: 'bomb.xml.gz', message: expect.stringContaining('50 MiB') }]);
      expect(growth).toBeLessThan(200 * MiB);
      expect(ms).toBeLessThan(5000);
    }
  }, 60_000);

  it('accepts a gzip file with trailing CRLF garbage (Mimecast)', async () => {
    const file = await write('mimecast.xml.gz', Buffer.concat([gz(SAMPLE_XML), Buffer.from('\r\n')]));
    expect((await extractFile(file)).documents.map((d) => d.sha256)).toEqual([sha256(SAMPLE_XML)]);
  });

  it('refuses a truncated gzip file', async () => {
    const bytes = gz(SAMPLE_XML);
    const file = await write('cut.xml.gz', bytes.subarray(0, bytes.length - 20));
    expect(summary(await extractFile(file)).problems).toEqual(['corrupt_gzip cut.xml.gz']);
  });

  it('refuses gzip nested deeper than allowed', async () => {
    const five = gz(gz(gz(gz(gz(SAMPLE_XML)))));
    expect(summary(await extractBytes(gz(gz(gz(gz(SAMPLE_XML)))), 'four.gz')).documents).toEqual(['xml four.gz']);
    expect(summary(await extractBytes(five, 'five.gz')).problems).toEqual(['too_deep five.gz']);
  });

  it('calls an empty file empty', async () => {
    expect(summary(await extractFile(await write('empty.xml', '')))).toEqual({ documents: [], problems: ['empty empty.xml'], messages: 0 });
    expect(summary(await extractBytes(new Uint8Array(), 'upload')).problems).toEqual(['empty upload']);
    expect(summary(await extractBytes(gz(''), 'empty.gz')).problems).toEqual(['empty empty.gz']);
  });

  it('refuses bytes that are no report', async () => {
    const png = await extractFile(await write('image.xml', PNG));
    expect(png.problems).toEqual([{ code: 'not_a_report', name: 'image.xml', message: expect.stringContaining('PNG') }]);
    expect(summary(await extractBytes(Buffer.from('just some words'), 'notes.txt')).problems).toEqual(['not_a_report notes.txt']);
    expect(summary(await extractBytes(Buffer.from('BZh91AY&SY....'), 'r.xml.bz2')).problems).toEqual(['unsupported_compression r.xml.bz2']);
  });

  it('reads an mbox file message by message', async () => {
    const messages = [1, 2, 3].map((i) =>
      buildMail({ body: { contentType: 'application/zip', filename: `r${i}.zip`, content: buildZip([{ name: `r${i}.xml`, data: SAMPLE_XML }]) } }),
    );
    const result = await extractFile(await write('inbox', buildMbox(messages)));
    expect(result.messages).toBe(3);
    expect(summary(result).documents).toEqual(['xml inbox › message 1 › r1.zip › r1.xml', 'xml inbox › message 2 › r2.zip › r2.xml', 'xml inbox › message 3 › r3.zip › r3.xml']);
  });

  it('throws for a path it cannot read', async () => {
    await expect(extractFile(path.join(dir, 'missing.xml'))).rejects.toThrow(/ENOENT/);
    await expect(extractFile(dir)).rejects.toThrow(/not a regular file/);
  });
});

describe('listImportFiles', () => {
  it('walks a directory recursively in sorted order, skipping dotfiles', async () => {
    const root = path.join(dir, 'walk');
    for (const name of ['b.xml', 'a/z.xml.gz', 'a/y/x.zip', '.hidden', '.git/config', 'c/.DS_Store', 'A.json']) await write(`walk/${name}`, 'x');
    await symlink(root, path.join(root, 'loop'));
    expect(await list(root)).toEqual(['A.json', 'a/y/x.zip', 'a/z.xml.gz', 'b.xml']);
    expect(await list(path.join(root, 'b.xml'))).toEqual(['']);
  });

  it('reads a maildir from cur/ and new/, never tmp/', async () => {
    const root = path.join(dir, 'Maildir');
    const mail = (i: number) => buildMail({ body: { contentType: 'application/gzip', filename: `r${i}.xml.gz`, content: gz(SAMPLE_XML) } });
    await write('Maildir/cur/1700000001.M1P1.host:2,S', mail(1));
    await write('Maildir/cur/1700000000.M1P1.host:2,S', mail(2));
    await write('Maildir/new/1700000002.M1P1.host', mail(3));
    await write('Maildir/tmp/1700000003.M1P1.host', 'being delivered');
    await write('Maildir/.Sent/cur/1700000004.M1P1.host:2,S', mail(4));
    await write('Maildir/dovecot-uidlist', '3 V1 N4');
    const files = await list(root);
    expect(files).toEqual(['cur/1700000000.M1P1.host:2,S', 'cur/1700000001.M1P1.host:2,S', 'new/1700000002.M1P1.host']);
    let messages = 0;
    let documents = 0;
    for (const file of files) {
      const result = await extractFile(path.join(root, file));
      messages += result.messages;
      documents += result.documents.length;
    }
    expect({ messages, documents }).toEqual({ messages: 3, documents: 3 });
  });
});
