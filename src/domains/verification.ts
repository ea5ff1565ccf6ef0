import type { ProofCheck } from './proof.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A new domain is checked hourly for this long, then daily. */
export const PENDING_HOURLY_FOR_MS = 7 * DAY;
export const PENDING_CHECK_EVERY_MS = HOUR;
export const VERIFIED_CHECK_EVERY_MS = DAY;
/**
 * A verified domain stays verified until this many checks in a row (scheduled or asked for) find
 * no record with its token; with daily checks, that is two to three days of a missing record.
 * Checks where DNS did not answer count neither way.
 */
export const MISSES_BEFORE_UNVERIFIED = 3;

export interface ProofState {
  createdAt: Date;
  verifiedAt: Date | null;
  missedChecks: number;
}

export interface ProofStateAfterCheck {
  verifiedAt: Date | null;
  missedChecks: number;
  nextCheckAt: Date;
  /** `verified`: the proof was found for the first time (again); `lost`: verification dropped. */
  change: 'verified' | 'lost' | null;
}

/** The rule: what a check does to a domain's verification, and when it is checked next. */
export function afterProofCheck(state: ProofState, check: ProofCheck, now: Date): ProofStateAfterCheck {
  let { verifiedAt, missedChecks } = state;
  let change: ProofStateAfterCheck['change'] = null;
  if (check.outcome === 'found') {
    if (verifiedAt === null) {
      verifiedAt = now;
      change = 'verified';
    }
    missedChecks = 0;
  } else if (check.outcome !== 'dns_error' && verifiedAt !== null) {
    missedChecks += 1;
    if (missedChecks >= MISSES_BEFORE_UNVERIFIED) {
      verifiedAt = null;
      missedChecks = 0;
      change = 'lost';
    }
  }
  const young = now.getTime() - state.createdAt.getTime() < PENDING_HOURLY_FOR_MS;
  const every = verifiedAt === null && young ? PENDING_CHECK_EVERY_MS : VERIFIED_CHECK_EVERY_MS;
  return { verifiedAt, missedChecks, nextCheckAt: new Date(now.getTime() + every), change };
}
