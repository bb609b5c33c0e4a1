import { type JetStreamClient, type JetStreamManager } from 'nats';
import { decodeEvent, type GavelEvent } from '@gavel/shared';

/** An event as stored, with its stream sequence (a chat message's `cursor`). */
export interface StoredEvent {
  readonly event: GavelEvent;
  readonly seq: number;
}

/**
 * Reads stored events of one subject, oldest first, from the event stream. Used to replay an
 * item's bids (item:watch afterSeq), to fill gaps in a feed, and to replay a room's chat after a
 * cursor (room:join afterCursor).
 */
export class StreamReader {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
  ) {}

  /** The newest stored event of `subject`, or null when there is none. */
  async last(subject: string): Promise<{ event: GavelEvent; seq: number } | null> {
    try {
      const m = await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject });
      const decoded = decodeEvent(m.data);
      return decoded.ok ? { event: decoded.event, seq: m.seq } : null;
    } catch (err) {
      if (/no message found/i.test(String(err))) return null;
      throw err;
    }
  }

  /** The event stored at stream sequence `seq`. */
  async at(seq: number): Promise<GavelEvent | null> {
    const m = await this.jsm.streams.getMessage(this.stream, { seq });
    const decoded = decodeEvent(m.data);
    return decoded.ok ? decoded.event : null;
  }

  /** Every stored event of `subject`, in stream order. */
  async readAll(subject: string): Promise<GavelEvent[]> {
    const last = await this.last(subject);
    if (!last) return [];
    // An ordered consumer is ephemeral and flow-controlled; it reads up to the newest message
    // that existed when we looked, which bounds the read.
    // (No deliver_policy: nats.js's ordered consumer starts at stream sequence 1 by default and
    // sending DeliverPolicy.All alongside its start sequence makes the server refuse it.)
    const consumer = await this.js.consumers.get(this.stream, { filterSubjects: subject });
    const events: GavelEvent[] = [];
    const messages = await consumer.consume({ max_messages: 1000 });
    try {
      for await (const m of messages) {
        const decoded = decodeEvent(m.data);
        if (decoded.ok) events.push(decoded.event);
        if (m.seq >= last.seq) break;
      }
    } finally {
      await messages.close();
    }
    return events;
  }

  /**
   * The events of `subject` with stream sequence > `afterSeq`, up to the newest one stored when
   * the read starts (`last`: its sequence, 0 when the subject has none). At most `limit` are
   * kept: the newest ones, with `truncated` set when older ones were left out.
   */
  async readAfter(
    subject: string,
    afterSeq: number,
    limit: number,
  ): Promise<{ events: StoredEvent[]; last: number; truncated: boolean }> {
    const newest = await this.last(subject);
    if (!newest || newest.seq <= afterSeq) return { events: [], last: newest?.seq ?? 0, truncated: false };
    const consumer = await this.js.consumers.get(this.stream, {
      filterSubjects: subject,
      opt_start_seq: afterSeq + 1,
    });
    const events: StoredEvent[] = [];
    let truncated = false;
    const messages = await consumer.consume({ max_messages: Math.min(limit, 1000) });
    try {
      for await (const m of messages) {
        const decoded = decodeEvent(m.data);
        if (decoded.ok) events.push({ event: decoded.event, seq: m.seq });
        // Only the newest `limit` are kept; memory stays bounded however old the cursor is.
        if (events.length > limit) {
          events.shift();
          truncated = true;
        }
        if (m.seq >= newest.seq) break;
      }
    } finally {
      await messages.close();
    }
    return { events, last: newest.seq, truncated };
  }
}
