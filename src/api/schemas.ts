import { z } from 'zod';
import { isoString } from '../lib/iso-time.js';

/** Timestamps leave the API as ISO 8601 strings in UTC. */
export const timestamp = z.iso.datetime().describe('ISO 8601 time in UTC.');

export function iso(date: Date): string;
export function iso(date: Date | null): string | null;
export function iso(date: Date | null): string | null {
  if (date === null) return null;
  return isoString(date instanceof Date ? date : new Date(date));
}

/** A numeric id in a path: positive, within bigint range as JavaScript reads it. */
export const idParam = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** An organisation's slug in a path. */
export const orgSlug = z.string().min(1).max(64).describe("The organisation's slug.");

export const orgParams = z.object({ org: orgSlug });

export const roleSchema = z.enum(['owner', 'admin', 'member', 'viewer']);
export const scopeSchema = z.enum(['read', 'write', 'admin']);
