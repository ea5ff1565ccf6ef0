import { crc32, deflateRawSync } from 'node:zlib';

/** One entry for `buildZip`. Everything but name and data can be set to lie or break the archive. */
export interface ZipEntrySpec {
  name: string;
  data?: Uint8Array | string;
  /** Already compressed bytes to store as they are (with `method`), e.g. a large deflate stream built elsewhere. */
  raw?: { bytes: Uint8Array; uncompressedSize: number; crc: number };
  /** 'stored' (0), 'deflate' (8, the default) or any other method number. */
  method?: 'stored' | 'deflate' | number;
  /** Declared uncompressed size, in place of the real one. */
  declaredSize?: number;
  crc?: number;
  encrypted?: boolean;
}

/** A minimal zip writer (local headers, central directory, end record; no zip64). */
export function buildZip(entries: ZipEntrySpec[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const methodCode = entry.method === 'stored' ? 0 : entry.method === 'deflate' || entry.method === undefined ? 8 : entry.method;
    let body: Buffer;
    let size: number;
    let checksum: number;
    if (entry.raw) {
      body = Buffer.from(entry.raw.bytes);
      size = entry.raw.uncompressedSize;
      checksum = entry.raw.crc;
    } else {
      const data = typeof entry.data === 'string' ? Buffer.from(entry.data) : Buffer.from(entry.data ?? new Uint8Array());
      body = methodCode === 8 ? deflateRawSync(data) : data;
      size = data.length;
      checksum = crc32(data);
    }
    const flags = 0x0800 | (entry.encrypted ? 0x0001 : 0);
    const crc = (entry.crc ?? checksum) >>> 0;
    const declared = entry.declaredSize ?? size;

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(methodCode, 8);
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(declared, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, body);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(methodCode, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(declared, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);

    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
