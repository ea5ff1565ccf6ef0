/**
 * JSON with object keys sorted (by UTF-16 code unit, like `Array.prototype.sort`) at every level and
 * no whitespace; strings and numbers are written exactly as `JSON.stringify` writes them. This is the
 * RFC 8785 (JCS) scheme, so one value always encodes to the same text.
 *
 * Only plain JSON values are accepted: properties whose value is `undefined` are skipped (as
 * `JSON.stringify` does); anything else that JSON cannot carry unchanged (non-finite numbers,
 * bigint, functions, Dates and other class instances) throws, so a value that would not survive a
 * round trip through jsonb is never silently hashed.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, '$');
}

function encode(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${path} is ${value}, which JSON cannot represent`);
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: ${path} is a ${typeof value}, which JSON cannot represent`);
  }
  if (Array.isArray(value)) {
    return `[${value.map((item, i) => encode(item, `${path}[${i}]`)).join(',')}]`;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError(`canonicalJson: ${path} is not a plain object`);
  }
  const record = value as Record<string, unknown>;
  const members: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const inner = record[key];
    if (inner === undefined) continue;
    members.push(`${JSON.stringify(key)}:${encode(inner, `${path}.${key}`)}`);
  }
  return `{${members.join(',')}}`;
}
