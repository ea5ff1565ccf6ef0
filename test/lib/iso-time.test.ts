import { describe, expect, it } from 'vitest';
import { isoString, parseUtcTimestamp } from '../../src/lib/iso-time.js';
import { readTimestamptz } from '../../src/db/timestamptz.js';

/** A timestamp as PostgreSQL prints a timestamptz in a UTC session: trailing zeros of the fraction dropped. */
function pgText(ms: number, micros: number): string {
  const iso = new Date(ms).toISOString();
  const fraction = `${iso.slice(20, 23)}${String(micros).padStart(3, '0')}`.replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction ? `.${fraction}` : ''}+00`;
}

function randomTimes(count: number, seed: number): number[] {
  let state = seed;
  const next = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const lo = Date.UTC(1000, 0, 1);
  const hi = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
  return Array.from({ length: count }, () => Math.floor(lo + next() * (hi - lo)));
}

describe('isoString', () => {
  it('writes what toISOString writes, across years 1000–9999', () => {
    for (const ms of [...randomTimes(20_000, 7), 0, Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(1000, 0, 1), Date.UTC(9999, 11, 31, 23, 59, 59, 999)]) {
      expect(isoString(new Date(ms))).toBe(new Date(ms).toISOString());
    }
  });

  it('leaves extended years and invalid dates to the engine', () => {
    expect(isoString(new Date(Date.UTC(10000, 0, 1)))).toBe('+010000-01-01T00:00:00.000Z');
    expect(isoString(new Date(Date.UTC(999, 0, 1)))).toBe('0999-01-01T00:00:00.000Z');
    expect(() => isoString(new Date(Number.NaN))).toThrow(RangeError);
  });
});

describe('parseUtcTimestamp', () => {
  it('reads PostgreSQL UTC text as the engine reads the same instant, with fractions truncated to milliseconds', () => {
    const times = randomTimes(20_000, 11);
    times.forEach((ms, i) => {
      const micros = i % 4 === 0 ? 0 : (i * 37) % 1000;
      const text = i % 5 === 0 ? pgText(ms - (ms % 1000), 0) : pgText(ms, micros);
      const engine = Date.parse(`${text.slice(0, 10)}T${text.slice(11)}:00`);
      expect(parseUtcTimestamp(text)?.getTime(), text).toBe(engine);
    });
  });

  it('reads one, two and six fraction digits', () => {
    expect(parseUtcTimestamp('2026-11-22 23:59:59.1+00')?.toISOString()).toBe('2026-11-22T23:59:59.100Z');
    expect(parseUtcTimestamp('2026-11-22 23:59:59.12+00')?.toISOString()).toBe('2026-11-22T23:59:59.120Z');
    expect(parseUtcTimestamp('2026-11-22 23:59:59.123999+00')?.toISOString()).toBe('2026-11-22T23:59:59.123Z');
    expect(parseUtcTimestamp('2024-02-29 00:00:00+00')?.toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(parseUtcTimestamp('2000-02-29 00:00:00+00')?.toISOString()).toBe('2000-02-29T00:00:00.000Z');
    expect(parseUtcTimestamp('2026-12-31 23:59:59+00')?.toISOString()).toBe('2026-12-31T23:59:59.000Z');
  });

  it('declines every other shape, so the caller uses the general parser', () => {
    for (const text of [
      '2026-11-22 23:59:59+05:30',
      '2026-11-22 23:59:59-08',
      '2026-11-22 23:59:59+01',
      'infinity',
      '-infinity',
      '0044-03-15 12:00:00+00 BC',
      '0099-01-01 00:00:00+00',
      '2026-02-30 00:00:00+00',
      '2026-02-29 00:00:00+00',
      '1900-02-29 00:00:00+00',
      '2026-04-31 00:00:00+00',
      '2026-13-01 00:00:00+00',
      '2026-11-22 24:00:00+00',
      '2026-11-22T23:59:59+00',
      '2026-11-22 23:59:5x+00',
      '2026-11-22 23:59:59.+00',
      '2026-11-22 23:59:59.12a+00',
      '12026-11-22 23:59:59+00',
      '',
    ]) {
      expect(parseUtcTimestamp(text), text).toBeNull();
    }
  });
});

describe('timestamptz text from the database', () => {
  it('reads other offsets and old dates through the general parser', () => {
    expect(readTimestamptz('2026-11-22 23:59:59.5+05:30').toISOString()).toBe('2026-11-22T18:29:59.500Z');
    expect(readTimestamptz('2026-11-22 23:59:59-08').toISOString()).toBe('2026-11-23T07:59:59.000Z');
    expect(readTimestamptz('0044-03-15 12:00:00+00 BC').getUTCFullYear()).toBe(-43);
  });
});
