import type pg from 'pg';

/** Tables whose rows expire after CHAT_RETENTION_HOURS (seed 003's message TTL). */
export const RETAINED_TABLES = ['chat_messages', 'direct_messages'] as const;
export type RetainedTable = (typeof RETAINED_TABLES)[number];

/**
 * Deletes messages older than `retentionHours`, `chunkSize` rows per statement so that one run
 * never holds long locks or builds a huge transaction. Returns the rows deleted per table.
 */
export async function deleteExpiredMessages(
  pool: pg.Pool,
  retentionHours: number,
  options: { chunkSize?: number; signal?: AbortSignal } = {},
): Promise<Record<RetainedTable, number>> {
  const chunkSize = options.chunkSize ?? 1000;
  const deleted: Record<RetainedTable, number> = { chat_messages: 0, direct_messages: 0 };
  for (const table of RETAINED_TABLES) {
    for (;;) {
      if (options.signal?.aborted) return deleted;
      // Table names come from the constant list above, never from input.
      const res = await pool.query(
        `DELETE FROM ${table} WHERE id IN (
           SELECT id FROM ${table} WHERE sent_at < now() - make_interval(hours => $1) LIMIT $2)`,
        [retentionHours, chunkSize],
      );
      deleted[table] += res.rowCount ?? 0;
      if ((res.rowCount ?? 0) < chunkSize) break;
    }
  }
  return deleted;
}
