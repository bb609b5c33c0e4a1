import type { GavelEvent } from '@gavel/shared';
import type { Logger } from 'pino';
import type { Connection, Frame } from './connection.js';
import type { LiveEvent, LiveSource, LiveSubscription } from './live-source.js';
import type { BroadcastMetrics } from './metrics.js';
import type { StreamReader } from './stream-reader.js';

export interface CursorFeedOptions {
  /** The stream subject this feed follows (a room's chat, a user's DMs, a room's presence). */
  readonly subject: string;
  readonly source: LiveSource;
  readonly reader: StreamReader;
  readonly metrics: BroadcastMetrics;
  readonly logger: Logger;
  /** The frame members get for an event (undefined: not for clients). */
  readonly frameOf: (event: GavelEvent, cursor: number) => Frame | undefined;
  /** Whether a missed event is read back from the stream (live-only feeds such as presence: no). */
  readonly gapFill: boolean;
  /** Most events one join after a cursor replays (the newest ones). */
  readonly replayLimit: number;
  /** Whether a member skips an event (the sending connection of a DM copy). */
  readonly skip?: (conn: Connection, event: GavelEvent) => boolean;
  /** Called after an event went to a member (DM positions and receipts); members are then sent one by one. */
  readonly onSent?: (conn: Connection, event: GavelEvent, cursor: number) => void;
}

interface Member {
  /** While a join replays, live events wait here so that they follow the replay. */
  held: Array<{ event: GavelEvent; cursor: number; frame: Frame }> | undefined;
  /** Events up to this cursor were replayed (or predate the join): never sent live. */
  floor: number;
}

export interface JoinResult {
  /** A safe afterCursor for a later join: everything after it reaches the member live. */
  readonly cursor: number;
  readonly replayed: number;
  readonly truncated: boolean;
}

const MAX_GAP_BACKOFF_MS = 5000;

/**
 * The events of one subject as this replica delivers them: in stream order, each once, with
 * joins that replay from a cursor and then go live with no gap and no duplicate at the seam.
 *
 * Live events come from the subject's subscription, which knows each event's predecessor on the
 * subject; an event whose predecessor this feed has not seen (a core NATS message lost to a slow
 * connection or a reconnect) holds the feed while the gap is read back from the stream.
 */
export class CursorFeed {
  /** Highest stream sequence of this subject delivered (every earlier one was too). */
  lastSeq = 0;
  readonly members = new Map<Connection, Member>();
  readonly ready: Promise<void>;
  private subscription: LiveSubscription | undefined;
  /** Live events that arrived before the start position was known, or behind a gap. */
  private waiting: LiveEvent[] = [];
  private synced = false;
  private filling = false;
  private gapBackoffMs = 100;
  private closed = false;
  lingerTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly key: string,
    private readonly options: CursorFeedOptions,
  ) {
    this.ready = this.open();
  }

  /** Subscribes first, then reads where the subject stands: an event is either before or live. */
  private async open(): Promise<void> {
    this.subscription = await this.options.source.subscribe(this.options.subject, (e) => this.onLive(e));
    if (this.closed) return this.subscription.close();
    try {
      const last = await this.options.reader.last(this.options.subject);
      this.lastSeq = last?.seq ?? 0;
    } catch (err) {
      this.subscription.close();
      throw err;
    }
    this.synced = true;
    this.drain();
  }

  private onLive(e: LiveEvent): void {
    if (!this.synced || this.filling) {
      this.waiting.push(e);
      return;
    }
    this.accept(e);
  }

  private accept(e: LiveEvent): void {
    if (e.seq <= this.lastSeq) {
      this.options.metrics.drops.inc({ reason: 'duplicate' });
      return;
    }
    if (this.options.gapFill && e.previous !== undefined && e.previous > this.lastSeq) {
      this.waiting.push(e);
      this.fillGap();
      return;
    }
    this.deliver(e.event, e.seq);
  }

  private drain(): void {
    const waiting = this.waiting.sort((a, b) => a.seq - b.seq);
    this.waiting = [];
    for (const [i, e] of waiting.entries()) {
      this.accept(e);
      // A gap found again: the rest waits behind it, in order.
      if (this.filling) {
        this.waiting.push(...waiting.slice(i + 1));
        return;
      }
    }
  }

  /**
   * After a reconnect: reads what the stream stored past lastSeq (see ItemFeed.catchUp). A
   * live-only feed (presence) has nothing to read back.
   */
  catchUp(): void {
    if (this.options.gapFill && this.synced) this.fillGap();
  }

  /** Reads what was missed from the stream, delivers it, then what waited behind it. */
  private fillGap(): void {
    if (this.filling || this.closed) return;
    this.filling = true;
    this.options.metrics.drops.inc({ reason: 'gap_fill' });
    this.options.reader
      .readAfter(this.options.subject, this.lastSeq, Number.MAX_SAFE_INTEGER)
      .then((missed) => {
        for (const { event, seq } of missed.events) if (seq > this.lastSeq) this.deliver(event, seq);
        this.gapBackoffMs = 100;
        this.filling = false;
        this.drain();
      })
      .catch((err: unknown) => {
        this.options.logger.warn({ err, subject: this.options.subject }, 'gap fill failed, retrying');
        setTimeout(() => {
          this.filling = false;
          this.fillGap();
        }, this.gapBackoffMs).unref();
        this.gapBackoffMs = Math.min(this.gapBackoffMs * 2, MAX_GAP_BACKOFF_MS);
      });
  }

  private deliver(event: GavelEvent, cursor: number): void {
    this.lastSeq = cursor;
    if (this.members.size === 0) return;
    const frame = this.options.frameOf(event, cursor);
    if (!frame) return;
    // Every member gets the same bytes (the frame encodes once); counted once per event.
    let delivered = 0;
    for (const [conn, member] of this.members) {
      if (this.options.skip?.(conn, event)) continue;
      if (member.held) member.held.push({ event, cursor, frame });
      else if (cursor > member.floor) {
        conn.send(frame);
        this.options.onSent?.(conn, event, cursor);
        delivered++;
      }
    }
    if (delivered > 0) this.options.metrics.eventsOut.inc({ event: frame.event }, delivered);
  }

  private send(conn: Connection, event: GavelEvent, cursor: number, frame: Frame): void {
    conn.send(frame);
    this.options.metrics.eventsOut.inc({ event: frame.event });
    this.options.onSent?.(conn, event, cursor);
  }

  /**
   * Makes `conn` a member. Without `afterCursor` (or with one at or past what this feed has seen)
   * it is live from now on. With an older cursor, the stored events after it are sent first; the
   * member is registered (its live events held) before the stream is read, so an event is either
   * stored by the read (replayed) or delivered after the registration (held, then sent): nothing
   * falls between, and held copies the replay covered are dropped.
   */
  async join(conn: Connection, afterCursor?: number): Promise<JoinResult> {
    await this.ready;
    const existing = this.members.get(conn);
    if (existing) return { cursor: this.lastSeq, replayed: 0, truncated: false };
    if (afterCursor === undefined || afterCursor >= this.lastSeq) {
      const member: Member = { held: undefined, floor: this.lastSeq };
      this.members.set(conn, member);
      return { cursor: this.lastSeq, replayed: 0, truncated: false };
    }
    const member: Member = { held: [], floor: afterCursor };
    this.members.set(conn, member);
    let replay: Awaited<ReturnType<StreamReader['readAfter']>>;
    try {
      replay = await this.options.reader.readAfter(
        this.options.subject,
        afterCursor,
        this.options.replayLimit,
      );
    } catch (err) {
      if (this.members.get(conn) === member) this.members.delete(conn);
      throw err;
    }
    if (this.members.get(conn) !== member) return { cursor: replay.last, replayed: 0, truncated: false };
    let replayed = 0;
    for (const { event, seq } of replay.events) {
      if (seq <= afterCursor || this.options.skip?.(conn, event)) continue;
      const frame = this.options.frameOf(event, seq);
      if (!frame) continue;
      this.send(conn, event, seq, frame);
      replayed++;
    }
    const held = member.held ?? [];
    member.held = undefined;
    member.floor = Math.max(afterCursor, replay.last);
    for (const h of held) if (h.cursor > member.floor) this.send(conn, h.event, h.cursor, h.frame);
    return { cursor: Math.max(replay.last, this.lastSeq), replayed, truncated: replay.truncated };
  }

  leave(conn: Connection): boolean {
    const member = this.members.get(conn);
    if (!member) return false;
    this.members.delete(conn);
    return true;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.lingerTimer);
    this.subscription?.close();
  }
}
