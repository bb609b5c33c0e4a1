import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

/**
 * Applies pending migrations. node-pg-migrate holds a PostgreSQL advisory lock while it runs,
 * so several replicas starting at once apply each migration exactly once.
 */
export async function migrate(databaseUrl: string, log: (msg: string) => void = () => {}): Promise<void> {
  await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Infinity,
    log,
    noLock: false,
    // Wait for the lock instead of failing: replicas that start together all succeed, one by one.
    advisoryLockMode: 'wait',
    checkOrder: true,
  });
}
