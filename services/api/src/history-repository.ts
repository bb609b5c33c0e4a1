import pg from 'pg';

export interface BidRow {
  readonly seq: number;
  readonly userId: string;
  readonly amountCents: number;
  readonly at: Date;
}

export interface ChatRow {
  readonly id: string;
  readonly roomId: string;
  readonly userId: string;
  readonly text: string;
  readonly clientMsgId: string;
  readonly at: Date;
}

export interface DirectMessageRow {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly text: string;
  readonly clientMsgId: string;
  readonly at: Date;
}

/**
 * Reads what the archival worker stored in PostgreSQL (schema: services/archival/migrations).
 * Short timeouts: an unreachable database gives a 503 quickly.
 */
export function createHistoryRepository(databaseUrl: string) {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: 10,
    connectionTimeoutMillis: 2000,
    query_timeout: 5000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection must not crash the process.
  pool.on('error', () => undefined);

  return {
    async bidsAfter(itemId: string, afterSeq: number, limit: number): Promise<BidRow[]> {
      const { rows } = await pool.query<{
        seq: number;
        user_id: string;
        amount_cents: string;
        accepted_at: Date;
      }>(
        `SELECT seq, user_id, amount_cents, accepted_at FROM bids
          WHERE item_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
        [itemId, afterSeq, limit],
      );
      return rows.map((r) => ({
        seq: r.seq,
        userId: r.user_id,
        amountCents: Number(r.amount_cents),
        at: r.accepted_at,
      }));
    },

    /** Newest first, strictly before `beforeMs` when given. */
    async messagesBefore(roomId: string, beforeMs: number | undefined, limit: number): Promise<ChatRow[]> {
      const { rows } = await pool.query<{
        id: string;
        room_id: string;
        user_id: string;
        text: string;
        client_msg_id: string;
        sent_at: Date;
      }>(
        `SELECT id, room_id, user_id, text, client_msg_id, sent_at FROM chat_messages
          WHERE room_id = $1 AND ($2::timestamptz IS NULL OR sent_at < $2)
          ORDER BY sent_at DESC, id DESC LIMIT $3`,
        [roomId, beforeMs === undefined ? null : new Date(beforeMs), limit],
      );
      return rows.map((r) => ({
        id: r.id,
        roomId: r.room_id,
        userId: r.user_id,
        text: r.text,
        clientMsgId: r.client_msg_id,
        at: r.sent_at,
      }));
    },

    /** Whether any message of the room was archived (a room in use cannot be made private). */
    async hasMessages(roomId: string): Promise<boolean> {
      const { rows } = await pool.query<{ found: boolean }>(
        'SELECT EXISTS (SELECT 1 FROM chat_messages WHERE room_id = $1) AS found',
        [roomId],
      );
      return rows[0]?.found === true;
    },

    /**
     * The direct messages between two users, both directions, newest first, strictly before
     * `beforeMs` when given (index direct_messages_conversation_idx).
     */
    async conversationBefore(
      userA: string,
      userB: string,
      beforeMs: number | undefined,
      limit: number,
    ): Promise<DirectMessageRow[]> {
      const [low, high] = userA < userB ? [userA, userB] : [userB, userA];
      const { rows } = await pool.query<{
        id: string;
        from_user: string;
        to_user: string;
        text: string;
        client_msg_id: string;
        sent_at: Date;
      }>(
        `SELECT id, from_user, to_user, text, client_msg_id, sent_at FROM direct_messages
          WHERE LEAST(from_user, to_user) = $1 AND GREATEST(from_user, to_user) = $2
            AND ($3::timestamptz IS NULL OR sent_at < $3)
          ORDER BY sent_at DESC, id DESC LIMIT $4`,
        [low, high, beforeMs === undefined ? null : new Date(beforeMs), limit],
      );
      return rows.map((r) => ({
        id: r.id,
        from: r.from_user,
        to: r.to_user,
        text: r.text,
        clientMsgId: r.client_msg_id,
        at: r.sent_at,
      }));
    },

    async ping(): Promise<void> {
      await pool.query('SELECT 1');
    },

    async close(): Promise<void> {
      await pool.end();
    },
  };
}

export type HistoryRepository = ReturnType<typeof createHistoryRepository>;
