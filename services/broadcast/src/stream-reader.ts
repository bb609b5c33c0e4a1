import { type JetStreamClient, type JetStreamManager } from 'nats';
import { decodeEvent, type GavelEvent } from '@gavel/shared';

/**
 * Reads every stored event of one subject, oldest first, from the event stream. Used to replay
 * an item's bids (item:watch afterSeq) and to fill gaps in a feed.
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
}
