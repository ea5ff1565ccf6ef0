import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PLAN_EACH_TIME } from '../../src/db/database.js';
import { describePostgres, openTestDatabase, type TestDatabase } from '../helpers/db.js';

describePostgres('statements with parameters on PostgreSQL', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openTestDatabase('postgres');
  });
  afterAll(() => database.close());

  it('are prepared once per connection and reused, with the right answers', async () => {
    const prepared = await database.db.transaction().execute(async (trx) => {
      const answers = [];
      for (const slug of ['default', 'missing', 'default']) {
        answers.push(await trx.selectFrom('organization').select('slug').where('slug', '=', slug).executeTakeFirst());
      }
      expect(answers).toEqual([{ slug: 'default' }, undefined, { slug: 'default' }]);
      return (await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`.execute(trx)).rows;
    });
    const ours = prepared.filter((p) => p.statement.includes('from "organization"'));
    expect(ours).toHaveLength(1);
    expect(ours[0]!.name).toMatch(/^dmw_[0-9a-f]{24}$/);
    // Statements without parameters are not prepared.
    expect(prepared.some((p) => /pg_prepared_statements/.test(p.statement))).toBe(false);
  });

  it('are planned each time, never prepared, when marked so, with the right answers', async () => {
    const prepared = await database.db.transaction().execute(async (trx) => {
      const marked = () => trx.selectFrom('organization').modifyFront(PLAN_EACH_TIME).select('name');
      expect(await marked().where('slug', '=', 'default').executeTakeFirst()).toEqual({ name: expect.any(String) });
      expect(await marked().where('slug', '=', 'missing').executeTakeFirst()).toBeUndefined();
      return (await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(trx)).rows;
    });
    expect(prepared.some((p) => p.statement.includes('plan each time'))).toBe(false);
  });
});
