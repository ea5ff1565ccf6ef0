import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { ipv6Bytes, reverseName } from '../../src/lib/dns.js';

/** What a name answers. A name in the zone with no record of the asked type answers NOERROR with no data. */
export interface ZoneEntry {
  txt?: string[];
  a?: string[];
  aaaa?: string[];
  ptr?: string[];
  mx?: Array<{ priority: number; exchange: string }>;
  /** The name is an alias: lookups of other types follow it inside the zone. */
  cname?: string;
  /** Answer SERVFAIL. */
  servfail?: boolean;
  /** Never answer (to test timeouts). */
  silent?: boolean;
}

export interface TestDnsServer {
  /** `127.0.0.1:port`, for DMARCWATCH_DNS_SERVERS. */
  address: string;
  port: number;
  /** Sets (replaces) what a name answers. */
  set(name: string, entry: ZoneEntry): void;
  /** Adds PTR names for an address. */
  setPtr(ip: string, names: string[]): void;
  /** Removes a name: it answers NXDOMAIN. */
  delete(name: string): void;
  /** Every question received, as `TYPE name`. */
  queries: string[];
  close(): Promise<void>;
}

const TYPE = { A: 1, CNAME: 5, PTR: 12, MX: 15, TXT: 16, AAAA: 28, OPT: 41 } as const;
const TYPE_NAME: Record<number, string> = Object.fromEntries(Object.entries(TYPE).map(([name, code]) => [code, name]));
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;

function normalise(name: string): string {
  return name.replace(/\.$/, '').toLowerCase();
}

/** A name as DNS labels (no compression). */
function encodeName(name: string): Buffer {
  const labels = normalise(name).split('.').filter((label) => label !== '');
  const parts = labels.map((label) => {
    const bytes = Buffer.from(label, 'ascii');
    if (bytes.length > 63) throw new Error(`label too long: ${label}`);
    return Buffer.concat([Buffer.from([bytes.length]), bytes]);
  });
  return Buffer.concat([...parts, Buffer.from([0])]);
}

/** TXT RDATA: the text as character-strings of at most 255 bytes each. */
function encodeTxt(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < bytes.length || chunks.length === 0; offset += 255) {
    const chunk = bytes.subarray(offset, offset + 255);
    chunks.push(Buffer.from([chunk.length]), chunk);
  }
  return Buffer.concat(chunks);
}

function u16(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeUInt16BE(value);
  return buffer;
}

function record(owner: Buffer, type: number, rdata: Buffer, ttl: number): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(1, 2); // class IN
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([owner, fixed, rdata]);
}

interface Question {
  id: number;
  flags: number;
  name: string;
  type: number;
  /** The question section as received, echoed in the answer. */
  section: Buffer;
  /** The client advertised EDNS (an OPT record): answer with one too. */
  edns: boolean;
}

function readName(message: Buffer, start: number): { name: string; end: number } {
  const labels: string[] = [];
  let offset = start;
  for (;;) {
    const length = message[offset];
    if (length === undefined) throw new Error('truncated name');
    if (length === 0) return { name: labels.join('.'), end: offset + 1 };
    if ((length & 0xc0) !== 0) throw new Error('compressed question names are not expected');
    labels.push(message.subarray(offset + 1, offset + 1 + length).toString('ascii'));
    offset += 1 + length;
  }
}

function parseQuestion(message: Buffer): Question | null {
  if (message.length < 12 || message.readUInt16BE(4) !== 1) return null;
  const { name, end } = readName(message, 12);
  if (end + 4 > message.length) return null;
  const type = message.readUInt16BE(end);
  const arcount = message.readUInt16BE(10);
  return { id: message.readUInt16BE(0), flags: message.readUInt16BE(2), name: normalise(name), type, section: message.subarray(12, end + 4), edns: arcount > 0 };
}

/**
 * An in-process DNS server on 127.0.0.1 (UDP, random port) answering authoritatively from a zone
 * that tests change while it runs. TTLs are 0 so that no resolver keeps an old answer.
 */
export async function startDnsServer(options: { ttl?: number } = {}): Promise<TestDnsServer> {
  const ttl = options.ttl ?? 0;
  const zone = new Map<string, ZoneEntry>();
  const queries: string[] = [];
  const socket = dgram.createSocket('udp4');

  function answersFor(name: string, type: number, owner: Buffer, depth = 0): Buffer[] | null {
    const entry = zone.get(name);
    if (!entry) return null;
    if (entry.cname !== undefined && type !== TYPE.CNAME && depth < 8) {
      const alias = record(owner, TYPE.CNAME, encodeName(entry.cname), ttl);
      const target = normalise(entry.cname);
      return [alias, ...(answersFor(target, type, encodeName(target), depth + 1) ?? [])];
    }
    switch (type) {
      case TYPE.TXT:
        return (entry.txt ?? []).map((text) => record(owner, type, encodeTxt(text), ttl));
      case TYPE.A:
        return (entry.a ?? []).map((ip) => record(owner, type, Buffer.from(ip.split('.').map(Number)), ttl));
      case TYPE.AAAA:
        return (entry.aaaa ?? []).map((ip) => record(owner, type, Buffer.from(ipv6Bytes(ip)), ttl));
      case TYPE.PTR:
        return (entry.ptr ?? []).map((host) => record(owner, type, encodeName(host), ttl));
      case TYPE.MX:
        return (entry.mx ?? []).map((mx) => record(owner, type, Buffer.concat([u16(mx.priority), encodeName(mx.exchange)]), ttl));
      case TYPE.CNAME:
        return entry.cname === undefined ? [] : [record(owner, type, encodeName(entry.cname), ttl)];
      default:
        return [];
    }
  }

  function respond(question: Question): Buffer | null {
    const entry = zone.get(question.name);
    if (entry?.silent) return null;
    let rcode: number = RCODE.NOERROR;
    let answers: Buffer[] = [];
    if (entry?.servfail) rcode = RCODE.SERVFAIL;
    else {
      // 0xc00c: a pointer to the name in the question, which starts right after the header.
      const found = answersFor(question.name, question.type, Buffer.from([0xc0, 0x0c]));
      if (found === null) rcode = RCODE.NXDOMAIN;
      else answers = found;
    }
    const header = Buffer.alloc(12);
    header.writeUInt16BE(question.id, 0);
    // QR, the query's opcode and RD, AA, RA, rcode.
    header.writeUInt16BE(0x8000 | (question.flags & 0x7900) | 0x0400 | 0x0080 | rcode, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    header.writeUInt16BE(0, 8);
    header.writeUInt16BE(question.edns ? 1 : 0, 10);
    const opt = question.edns ? [Buffer.concat([Buffer.from([0]), u16(TYPE.OPT), u16(4096), Buffer.alloc(4), u16(0)])] : [];
    return Buffer.concat([header, question.section, ...answers, ...opt]);
  }

  socket.on('message', (message, peer) => {
    let question: Question | null;
    try {
      question = parseQuestion(message);
    } catch {
      question = null;
    }
    if (!question) return;
    queries.push(`${TYPE_NAME[question.type] ?? question.type} ${question.name}`);
    const answer = respond(question);
    if (answer) socket.send(answer, peer.port, peer.address);
  });

  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const port = socket.address().port;

  return {
    address: `127.0.0.1:${port}`,
    port,
    queries,
    set(name, entry) {
      zone.set(normalise(name), entry);
    },
    setPtr(ip, names) {
      if (isIP(ip) === 0) throw new TypeError(`not an IP address: ${ip}`);
      zone.set(reverseName(ip), { ptr: names });
    },
    delete(name) {
      zone.delete(normalise(name));
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
