import { describe, expect, it } from 'vitest';
import { splitMbox, type MboxMessage } from '../../../src/reports/extract/mbox.js';

async function split(text: string, chunkSize: number, cap = Infinity): Promise<(string | null)[]> {
  const bytes = Buffer.from(text, 'latin1');
  async function* chunks() {
    for (let i = 0; i < bytes.length; i += chunkSize) yield bytes.subarray(i, i + chunkSize);
  }
  const out: MboxMessage[] = [];
  for await (const message of splitMbox(chunks(), cap)) out.push(message);
  return out.map((m) => m.bytes?.toString('latin1') ?? null);
}

const CHUNK_SIZES = [1, 2, 3, 5, 6, 7, 64, 1 << 20];

describe('splitMbox', () => {
  it.each(CHUNK_SIZES)('splits at From lines wherever the chunks break (%i-byte chunks)', async (size) => {
    const mbox = 'From a@b Mon Oct 14 2024\nSubject: 1\n\nbody 1\n\nFrom c@d Tue Oct 15 2024\nSubject: 2\n\n>From quoted\nbody 2\n\n';
    expect(await split(mbox, size)).toEqual(['Subject: 1\n\nbody 1\n', 'Subject: 2\n\n>From quoted\nbody 2\n']);
  });

  it.each(CHUNK_SIZES)('handles CRLF mboxes and a last message without a blank line (%i-byte chunks)', async (size) => {
    const mbox = 'From a@b\r\nSubject: 1\r\n\r\nbody\r\n\r\nFrom c@d\r\nSubject: 2\r\n\r\nlast';
    expect(await split(mbox, size)).toEqual(['Subject: 1\r\n\r\nbody\r\n', 'Subject: 2\r\n\r\nlast']);
  });

  it('skips empty messages between back-to-back separators', async () => {
    expect(await split('From a\nFrom b\nSubject: x\n\nbody\n', 3)).toEqual(['Subject: x\n\nbody\n']);
  });

  it('counts a message over the cap without keeping it', async () => {
    const mbox = `From a\nSubject: small\n\nok\n\nFrom b\nSubject: big\n\n${'x'.repeat(1000)}\n\nFrom c\nSubject: small\n\nok\n`;
    const bytes = Buffer.from(mbox);
    const sizes: [number, boolean][] = [];
    async function* once() {
      yield bytes;
    }
    for await (const message of splitMbox(once(), 100)) sizes.push([message.index, message.bytes !== null]);
    expect(sizes).toEqual([
      [1, true],
      [2, false],
      [3, true],
    ]);
  });
});
