/**
 * ASN, AS organisation and country of an address, from MaxMind DB (.mmdb) files the operator
 * provides: GeoLite2-ASN / GeoLite2-Country from MaxMind, or the DB-IP "lite" ASN and country
 * files (same record layout). Without a file, the answers are null: pages say "unknown" and never
 * guess. Read with mmdb-lib (pure JavaScript, no native code, no network).
 */
import fs from 'node:fs';
import { Reader, type Response } from 'mmdb-lib';

export interface GeoPaths {
  /** GeoLite2-ASN or DB-IP ASN lite. */
  asnDb?: string | undefined;
  /** GeoLite2-Country or DB-IP country lite (a City file works too). */
  countryDb?: string | undefined;
}

export interface AsnAnswer {
  asn: number;
  organization: string | null;
}

export interface GeoLookup {
  /** Whether an ASN / a country database is configured (so null means "not in the file"). */
  readonly hasAsn: boolean;
  readonly hasCountry: boolean;
  asn(ip: string): AsnAnswer | null;
  /** ISO 3166-1 alpha-2 code, upper-case. */
  country(ip: string): string | null;
}

/** No database: every answer is unknown. */
export const NO_GEO: GeoLookup = { hasAsn: false, hasCountry: false, asn: () => null, country: () => null };

type Record_ = Record<string, unknown>;

function open(path: string, what: string): Reader<Response> {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path);
  } catch (error) {
    throw new Error(`cannot read the ${what} database ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
  try {
    return new Reader<Response>(bytes);
  } catch (error) {
    throw new Error(`${path} is not a MaxMind DB (.mmdb) file: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

function lookup(reader: Reader<Response>, ip: string): Record_ | null {
  try {
    return (reader.get(ip) as Record_ | null) ?? null;
  } catch {
    return null;
  }
}

function field(record: Record_ | null, ...path: string[]): unknown {
  let value: unknown = record;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record_)[key];
  }
  return value;
}

/** Opens the configured files once (they are read into memory); throws when one is not readable. */
export function openGeoDatabases(paths: GeoPaths): GeoLookup {
  const asnReader = paths.asnDb ? open(paths.asnDb, 'ASN') : null;
  const countryReader = paths.countryDb ? open(paths.countryDb, 'country') : null;
  return {
    hasAsn: asnReader !== null,
    hasCountry: countryReader !== null,
    asn(ip) {
      if (!asnReader) return null;
      const record = lookup(asnReader, ip);
      const asn = field(record, 'autonomous_system_number');
      if (typeof asn !== 'number' || !Number.isInteger(asn) || asn <= 0) return null;
      const organization = field(record, 'autonomous_system_organization');
      return { asn, organization: typeof organization === 'string' && organization.trim() !== '' ? organization.trim() : null };
    },
    country(ip) {
      if (!countryReader) return null;
      const record = lookup(countryReader, ip);
      const code = field(record, 'country', 'iso_code') ?? field(record, 'registered_country', 'iso_code') ?? field(record, 'country_code');
      return typeof code === 'string' && /^[A-Za-z]{2}$/.test(code) ? code.toUpperCase() : null;
    },
  };
}
