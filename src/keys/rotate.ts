import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { reseal, sealedKeyId, type Keyring } from '../lib/crypto/index.js';
import { SEALED_COLUMNS } from './sealed-columns.js';

export interface RotateResult {
  resealed: number;
  alreadyCurrent: number;
  failed: { table: string; id: number; column: string; reason: string }[];
}

type SealedRow = Record<string, Uint8Array | number | null> & { id: number };

/**
 * Re-seals every value not sealed under the keyring's first key, batch by batch. Each update only
 * applies if the value is unchanged since it was read (a token refreshed meanwhile is left alone
 * and picked up by the next run), so it is safe beside running workers and can be resumed anytime.
 */
export async function rotateKeys(
  db: Kysely<DB>,
  keyring: Keyring,
  options: { batchSize?: number; onBatch?: (done: number) => void } = {},
): Promise<RotateResult> {
  const result: RotateResult = { resealed: 0, alreadyCurrent: 0, failed: [] };
  const batchSize = options.batchSize ?? 200;
  for (const { table, columns } of SEALED_COLUMNS) {
    let lastId = 0;
    for (;;) {
      const rows = (
        await sql<SealedRow>`select id, ${sql.join(columns.map((c) => sql.ref(c)))} from ${sql.table(table)}
          where id > ${lastId} order by id limit ${batchSize}`.execute(db)
      ).rows;
      if (rows.length === 0) break;
      for (const row of rows) {
        for (const column of columns) {
          const sealed = row[column];
          if (!(sealed instanceof Uint8Array)) continue;
          if (sealedKeyId(sealed) === keyring.sealingKeyId) {
            result.alreadyCurrent += 1;
            continue;
          }
          try {
            const fresh = reseal(keyring, sealed, { table, column, rowId: row.id });
            const updated = await sql`update ${sql.table(table)} set ${sql.ref(column)} = ${fresh}
              where id = ${row.id} and ${sql.ref(column)} = ${sealed}`.execute(db);
            if (Number(updated.numAffectedRows ?? 0) === 1) result.resealed += 1;
          } catch (error) {
            result.failed.push({ table, id: row.id, column, reason: error instanceof Error ? error.message : String(error) });
          }
        }
      }
      lastId = rows[rows.length - 1]!.id;
      options.onBatch?.(result.resealed + result.alreadyCurrent);
    }
  }
  return result;
}

export interface KeyCheck {
  /** Values per key id. */
  byKey: Record<string, number>;
  current: number;
  /** Sealed under a key still in the keyring but not the first one: `keys rotate` moves them. */
  retired: number;
  /** Sealed under a key the keyring does not have: these cannot be opened. */
  unknown: { table: string; id: number; column: string; keyId: string }[];
}

export async function checkKeys(db: Kysely<DB>, keyring: Keyring): Promise<KeyCheck> {
  const check: KeyCheck = { byKey: {}, current: 0, retired: 0, unknown: [] };
  for (const { table, columns } of SEALED_COLUMNS) {
    const rows = (await sql<SealedRow>`select id, ${sql.join(columns.map((c) => sql.ref(c)))} from ${sql.table(table)}`.execute(db)).rows;
    for (const row of rows) {
      for (const column of columns) {
        const sealed = row[column];
        if (!(sealed instanceof Uint8Array)) continue;
        let keyId: string;
        try {
          keyId = sealedKeyId(sealed);
        } catch {
          keyId = '(malformed)';
        }
        check.byKey[keyId] = (check.byKey[keyId] ?? 0) + 1;
        if (keyId === keyring.sealingKeyId) check.current += 1;
        else if (keyring.has(keyId)) check.retired += 1;
        else check.unknown.push({ table, id: row.id, column, keyId });
      }
    }
  }
  return check;
}
