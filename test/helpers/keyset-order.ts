/**
 * Rows in the order a keyset-sorted list must give them, as SQL sorts under the C collation: by
 * value (NULLs last either way), ties by id in the same direction.
 */
export function keysetOrder<T>(rows: readonly T[], value: (row: T) => string | number | bigint | null, id: (row: T) => number, dir: 'asc' | 'desc'): T[] {
  const sign = dir === 'asc' ? 1 : -1;
  return [...rows].sort((a, b) => {
    const x = value(a);
    const y = value(b);
    if (x === null || y === null) {
      if (x !== y) return x === null ? 1 : -1;
    } else if (x !== y) {
      return (x < y ? -1 : 1) * sign;
    }
    return (id(a) - id(b)) * sign;
  });
}
