/** One message of an mbox, numbered from 1; `bytes` is null when it passed the size cap. */
export interface MboxMessage {
  index: number;
  size: number;
  bytes: Buffer | null;
}

const SEPARATOR = Buffer.from('\nFrom ');
// bytes kept back at the end of a chunk, in case a separator starts there
const KEEP = SEPARATOR.length - 1;

class MessageCollector {
  private parts: Buffer[] = [];
  size = 0;

  constructor(
    readonly index: number,
    private readonly cap: number,
  ) {}

  add(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.size += bytes.length;
    if (this.size > this.cap) this.parts = [];
    else this.parts.push(bytes);
  }

  finish(): MboxMessage | null {
    if (this.size > this.cap) return { index: this.index, size: this.size, bytes: null };
    let bytes = Buffer.concat(this.parts, this.size);
    // the blank line mbox writers put between messages belongs to no message
    if (bytes.subarray(-4).equals(CRLF_CRLF)) bytes = bytes.subarray(0, -2);
    else if (bytes.subarray(-2).equals(LF_LF)) bytes = bytes.subarray(0, -1);
    if (isBlank(bytes)) return null;
    return { index: this.index, size: bytes.length, bytes };
  }
}

function isBlank(bytes: Buffer): boolean {
  for (const byte of bytes) if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) return false;
  return true;
}

const CRLF_CRLF = Buffer.from('\r\n\r\n');
const LF_LF = Buffer.from('\n\n');

/**
 * Splits an mbox stream at its `From ` lines. Only one message is held at a time, and a
 * message over `maxMessageBytes` is counted but not kept. `>From ` lines are left as they
 * are: report attachments are base64 and never contain them.
 */
export async function* splitMbox(chunks: AsyncIterable<Uint8Array>, maxMessageBytes: number): AsyncGenerator<MboxMessage> {
  // a virtual line break before the first byte lets a separator on the first line match
  let carry: Buffer = Buffer.from('\n');
  // leading bytes of `carry` that belong to no message (a line break ending a separator line)
  let carrySkip = 1;
  let inSeparatorLine = false;
  let current: MessageCollector | null = null;
  let count = 0;

  for await (const chunk of chunks) {
    const buffer = Buffer.concat([carry, chunk]);
    let pos = 0;
    let contentStart = carrySkip;
    for (;;) {
      if (inSeparatorLine) {
        const lineEnd = buffer.indexOf(0x0a, pos);
        if (lineEnd < 0) {
          carry = Buffer.alloc(0);
          carrySkip = 0;
          break;
        }
        inSeparatorLine = false;
        contentStart = lineEnd + 1;
        // the line break that ends a separator line may open the next separator
        pos = lineEnd;
      }
      const hit = buffer.indexOf(SEPARATOR, pos);
      if (hit < 0) {
        const keepFrom = Math.max(pos, buffer.length - KEEP);
        current?.add(buffer.subarray(contentStart, Math.max(contentStart, keepFrom)));
        carry = buffer.subarray(keepFrom);
        carrySkip = Math.max(0, contentStart - keepFrom);
        break;
      }
      current?.add(buffer.subarray(contentStart, Math.max(contentStart, hit + 1)));
      const finished = current?.finish();
      if (finished) yield finished;
      count += 1;
      current = new MessageCollector(count, maxMessageBytes);
      inSeparatorLine = true;
      pos = hit + SEPARATOR.length;
    }
  }
  if (!inSeparatorLine) current?.add(carry.subarray(carrySkip));
  const last = current?.finish();
  if (last) yield last;
}
