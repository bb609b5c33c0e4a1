import { afterEach, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@gavel/shared/testing';
import { migrate } from '../src/migrate.js';

let db: TestDatabase | undefined;
afterEach(async () => {
  await db?.drop();
  db = undefined;
});

describe('migrate', () => {
  it('applies every migration exactly once when three replicas start together', async () => {
    db = await createTestDatabase();
    const url = db.url;
    await Promise.all([migrate(url), migrate(url), migrate(url)]);
    const files = readdirSync(new URL('../migrations', import.meta.url)).filter((f) => f.endsWith('.sql'));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const applied = await client.query<{ name: string }>(
        'SELECT name FROM pgmigrations ORDER BY run_on, id',
      );
      expect(applied.rows.map((r) => `${r.name}.sql`)).toEqual(files.sort());
      const tables = await client.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual([
        'auction_results',
        'bids',
        'chat_messages',
        'direct_messages',
        'item_extensions',
        'items',
        'pgmigrations',
      ]);
    } finally {
      await client.end();
    }
    // A later start finds nothing to do.
    await migrate(url);
  });
});
