import { describe, expect, it } from 'vitest';
import { daysOfRange, splitCount } from '../../src/ingest/daily-split.js';

const at = (iso: string) => new Date(iso);

describe('daysOfRange', () => {
  it.each([
    ['Google/Yahoo 86399 s', '2024-03-01T00:00:00Z', '2024-03-01T23:59:59Z', '2024-03-01'],
    ['Microsoft 86400 s', '2024-03-01T00:00:00Z', '2024-03-02T00:00:00Z', '2024-03-01'],
    ['Cisco 86401 s', '2024-03-01T00:00:00Z', '2024-03-02T00:00:01Z', '2024-03-01'],
    ['NetEase day starting 16:00Z', '2024-02-29T16:00:00Z', '2024-03-01T15:59:59Z', '2024-03-01'],
    ['begin == end', '2024-03-05T10:00:00Z', '2024-03-05T10:00:00Z', '2024-03-05'],
  ])('credits a one-day range to a single day (%s)', (_name, begin, end, day) => {
    expect(daysOfRange(at(begin), at(end))).toEqual([{ day, weight: 1 }]);
  });

  it('spreads a multi-day range over the days it overlaps, by time', () => {
    const shares = daysOfRange(at('2024-03-01T12:00:00Z'), at('2024-03-04T00:00:00Z'));
    expect(shares.map((s) => s.day)).toEqual(['2024-03-01', '2024-03-02', '2024-03-03']);
    expect(shares.map((s) => s.weight / 3_600_000)).toEqual([12, 24, 24]);
  });

  it('treats an end before the begin as a point in time', () => {
    expect(daysOfRange(at('2024-03-05T10:00:00Z'), at('2024-03-01T00:00:00Z'))).toEqual([{ day: '2024-03-05', weight: 1 }]);
  });
});

describe('splitCount', () => {
  it('keeps the total exact whatever the weights', () => {
    for (const count of [0, 1, 2, 7, 100, 999_983]) {
      const parts = splitCount(count, [
        { day: 'a', weight: 1 },
        { day: 'b', weight: 2 },
        { day: 'c', weight: 4 },
      ]);
      expect(parts.reduce((a, b) => a + b, 0)).toBe(count);
      expect(parts.every((p) => p >= 0)).toBe(true);
    }
  });

  it('splits in proportion to the weights', () => {
    expect(splitCount(70, [{ day: 'a', weight: 1 }, { day: 'b', weight: 6 }])).toEqual([10, 60]);
    expect(splitCount(3, [{ day: 'a', weight: 1 }, { day: 'b', weight: 1 }])).toEqual([2, 1]);
  });
});
