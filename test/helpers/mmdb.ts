import fs from 'node:fs';
import { isIP } from 'node:net';
import { ipv6Bytes } from '../../src/lib/dns.js';

/**
 * A minimal MaxMind DB (.mmdb, format 2.0) writer for tests: an IPv6 search tree (IPv4 networks
 * under ::/96, where readers look for them) with 32-bit records, the data section, and the
 * metadata, as the MaxMind DB File Format Specification describes them. Values may be strings,
 * non-negative integers (stored as uint32, or uint64 when larger), booleans, arrays and maps.
 */

export type MmdbValue = string | number | boolean | MmdbValue[] | { [key: string]: MmdbValue };

export interface MmdbNetwork {
  /** CIDR: `192.0.2.0/24`, `2001:db8::/32`. */
  network: string;
  data: Record<string, MmdbValue>;
}

const TYPE = { utf8: 2, map: 7, uint32: 6, uint64: 9, array: 11, boolean: 14 } as const;

function control(type: number, size: number): Buffer {
  const extended = type > 7;
  const first = (extended ? 0 : type) << 5;
  let sizeBits: number;
  let extra: Buffer;
  if (size < 29) {
    sizeBits = size;
    extra = Buffer.alloc(0);
  } else if (size < 29 + 256) {
    sizeBits = 29;
    extra = Buffer.from([size - 29]);
  } else if (size < 285 + 65536) {
    sizeBits = 30;
    extra = Buffer.alloc(2);
    extra.writeUInt16BE(size - 285);
  } else {
    sizeBits = 31;
    extra = Buffer.alloc(3);
    extra.writeUIntBE(size - 65821, 0, 3);
  }
  return Buffer.concat([Buffer.from([first | sizeBits]), extended ? Buffer.from([type - 7]) : Buffer.alloc(0), extra]);
}

function encodeUint(type: number, value: bigint): Buffer {
  const bytes: number[] = [];
  for (let v = value; v > 0n; v >>= 8n) bytes.unshift(Number(v & 0xffn));
  return Buffer.concat([control(type, bytes.length), Buffer.from(bytes)]);
}

export function encodeValue(value: MmdbValue): Buffer {
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([control(TYPE.utf8, bytes.length), bytes]);
  }
  if (typeof value === 'boolean') return control(TYPE.boolean, value ? 1 : 0);
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) throw new TypeError(`only non-negative integers are supported, got ${value}`);
    return encodeUint(value <= 0xffffffff ? TYPE.uint32 : TYPE.uint64, BigInt(value));
  }
  if (Array.isArray(value)) return Buffer.concat([control(TYPE.array, value.length), ...value.map(encodeValue)]);
  const entries = Object.entries(value);
  return Buffer.concat([control(TYPE.map, entries.length), ...entries.flatMap(([k, v]) => [encodeValue(k), encodeValue(v)])]);
}

interface TreeNode {
  children: [TreeNode | number | null, TreeNode | number | null];
}

/** The 128 bits of a network in the IPv6 tree, and its prefix length there. */
function networkBits(cidr: string): { bits: number[]; prefix: number } {
  const [address, prefixText] = cidr.split('/') as [string, string | undefined];
  const family = isIP(address);
  if (family === 0) throw new TypeError(`not a network: ${cidr}`);
  const bytes = family === 4 ? [...Array<number>(12).fill(0), ...address.split('.').map(Number)] : ipv6Bytes(address);
  const prefix = (family === 4 ? 96 : 0) + Number(prefixText ?? (family === 4 ? 32 : 128));
  const bits = bytes.flatMap((byte) => Array.from({ length: 8 }, (_, i) => (byte >> (7 - i)) & 1));
  return { bits, prefix };
}

/** The bytes of a .mmdb file holding these networks (later entries win where they overlap). */
export function buildMmdb(networks: MmdbNetwork[], databaseType = 'Test-DB'): Buffer {
  const data: Buffer[] = [];
  let dataSize = 0;
  const root: TreeNode = { children: [null, null] };
  for (const { network, data: record } of networks) {
    const offset = dataSize;
    const encoded = encodeValue(record);
    data.push(encoded);
    dataSize += encoded.length;
    const { bits, prefix } = networkBits(network);
    let node = root;
    for (let depth = 0; depth < prefix - 1; depth += 1) {
      const bit = bits[depth] as 0 | 1;
      let child = node.children[bit];
      if (child === null || typeof child === 'number') {
        // A wider network stored here already: its data continues on both sides below.
        const inherited = child;
        child = { children: [inherited, inherited] };
        node.children[bit] = child;
      }
      node = child;
    }
    node.children[bits[prefix - 1] as 0 | 1] = offset;
  }

  const nodes: TreeNode[] = [];
  const index = new Map<TreeNode, number>();
  const visit = (node: TreeNode) => {
    index.set(node, nodes.length);
    nodes.push(node);
    for (const child of node.children) if (child !== null && typeof child !== 'number') visit(child);
  };
  visit(root);
  const nodeCount = nodes.length;
  const tree = Buffer.alloc(nodeCount * 8);
  nodes.forEach((node, n) => {
    node.children.forEach((child, side) => {
      const value = child === null ? nodeCount : typeof child === 'number' ? nodeCount + 16 + child : (index.get(child) as number);
      tree.writeUInt32BE(value, n * 8 + side * 4);
    });
  });

  const metadata = encodeValue({
    node_count: nodeCount,
    record_size: 32,
    ip_version: 6,
    database_type: databaseType,
    languages: ['en'],
    binary_format_major_version: 2,
    binary_format_minor_version: 0,
    build_epoch: 1_700_000_000,
    description: { en: 'DMARC Watch test database' },
  });
  return Buffer.concat([tree, Buffer.alloc(16), ...data, Buffer.from('abcdef4d61784d696e642e636f6d', 'hex'), metadata]);
}

/** Writes a .mmdb file and returns its path. */
export function writeMmdb(path: string, networks: MmdbNetwork[], databaseType?: string): string {
  fs.writeFileSync(path, buildMmdb(networks, databaseType));
  return path;
}
