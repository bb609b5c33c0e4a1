import { subjects, type BidAccepted, type GavelEvent, type ItemClosed, type Topology } from '@gavel/shared';
import type { Logger } from 'pino';
import { Frame, type Connection } from './connection.js';
import { bidView, itemFrame } from './frames.js';
import type { LiveEvent, LiveSource, LiveSubscription } from './live-source.js';
import type { BroadcastMetrics } from './metrics.js';
import type { StreamReader } from './stream-reader.js';

export interface ItemFeedOptions {
  readonly reader: StreamReader;
  readonly source: LiveSource;
  readonly topology: Topology;
  readonly historySize: number;
  readonly metrics: BroadcastMetrics;
  readonly logger: Logger;
}

type BidFrame = Frame<'bid'>;

/**
 * The bids of one item as this replica delivers them: strictly in seq order, each seq once.
 * Live events from JetStream may arrive out of order or twice (outbox retries, several api
 * replicas); out-of-order ones wait in `pending` while the gap is fetched from the stream.
 */
export class ItemFeed {
  /** Highest seq such that 1..lastSeq are all known. */
  lastSeq = 0;
  /** The most recent contiguous bids, ending at lastSeq, each encoded once. */
  private history: BidFrame[] = [];
  private readonly pending = new Map<number, BidAccepted>();
  /** For each watcher, the highest seq it has been sent. */
  readonly watchers = new Map<Connection, number>();
  private closedEvent: ItemClosed | null = null;
  private synced = false;
  readonly ready: Promise<void>;
  private gapTimer: NodeJS.Timeout | undefined;
  private gapDelayMs = 100;
  private subscriptions: LiveSubscription[] = [];
  private closed = false;
  lingerTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly itemId: string,
    private readonly options: ItemFeedOptions,
  ) {
    this.ready = this.sync();
  }

  /**
   * Subscribes to the item's bids and lifecycle events, then reads its stored bids once: a bid
   * is stored before the read or arrives live (both are put in seq order).
   */
  private async sync(): Promise<void> {
    const s = subjects(this.options.topology);
    const onLive = (e: LiveEvent) => this.onLive(e);
    this.subscriptions = await Promise.all([
      this.options.source.subscribe(s.bidAccepted(this.itemId), onLive),
      this.options.source.subscribe(s.itemEvents(this.itemId), onLive),
    ]);
    if (this.closed) return this.dispose();
    const [stored, closed] = await Promise.all([
      this.options.reader.readAll(s.bidAccepted(this.itemId)),
      this.options.reader.last(s.itemClosed(this.itemId)),
    ]);
    for (const e of stored) if (e.type === 'bid.accepted' && e.seq > this.lastSeq) this.pending.set(e.seq, e);
    if (closed?.event.type === 'item.closed') this.closedEvent = closed.event;
    this.synced = true;
    this.advance();
  }

  private onLive({ event }: LiveEvent): void {
    if (event.type === 'bid.accepted') this.offer(event);
    else if (event.type === 'item.opened' || event.type === 'item.extended' || event.type === 'item.closed') {
      this.offerItemEvent(event);
    }
  }

  /** A bid from the live consumer or from a gap fetch. */
  offer(bid: BidAccepted): void {
    if (bid.seq <= this.lastSeq || this.pending.has(bid.seq)) {
      this.options.metrics.drops.inc({ reason: 'duplicate_bid' });
      return;
    }
    this.pending.set(bid.seq, bid);
    if (this.synced) this.advance();
  }

  /** item.opened / item.extended / item.closed: passed to the current watchers as they come. */
  offerItemEvent(event: Extract<GavelEvent, { itemId: string }>): void {
    if (event.type === 'item.closed') this.closedEvent = event;
    if (event.type !== 'item.opened' && event.type !== 'item.extended' && event.type !== 'item.closed')
      return;
    const frame = itemFrame(event);
    for (const conn of this.watchers.keys()) this.send(conn, frame);
  }

  private advance(): void {
    for (let next = this.pending.get(this.lastSeq + 1); next; next = this.pending.get(this.lastSeq + 1)) {
      this.pending.delete(next.seq);
      this.lastSeq = next.seq;
      const frame = new Frame('bid', bidView(next));
      this.history.push(frame);
      // Trim in halves, not per bid: a per-bid slice would copy the whole history on every bid.
      // The feed keeps between historySize and twice that.
      if (this.history.length >= 2 * this.options.historySize) {
        this.history = this.history.slice(-this.options.historySize);
      }
      // Watchers one step behind get it (the same bytes for all); a client that was ahead of this
      // replica (sent === next.seq) is now in step. Counted once per bid, not per delivery.
      let delivered = 0;
      for (const [conn, sent] of this.watchers) {
        if (sent === next.seq - 1) {
          this.watchers.set(conn, next.seq);
          conn.send(frame);
          delivered++;
        }
      }
      if (delivered > 0) this.options.metrics.eventsOut.inc({ event: 'bid' }, delivered);
    }
    if (this.pending.size > 0) this.scheduleGapFill();
    else this.gapDelayMs = 100;
  }

  /**
   * Reads what the stream holds past lastSeq, and the item's close. Core NATS drops what is
   * published while the connection is down, and a later bid would reveal the gap only if one
   * came: after a reconnect the feed looks for itself (retrying until the stream answers).
   */
  catchUp(delayMs = 250): void {
    if (!this.synced || this.closed) return;
    const s = subjects(this.options.topology);
    Promise.all([
      this.options.reader.readAll(s.bidAccepted(this.itemId)),
      this.options.reader.last(s.itemClosed(this.itemId)),
    ])
      .then(([events, closed]) => {
        for (const e of events)
          if (e.type === 'bid.accepted' && e.seq > this.lastSeq && !this.pending.has(e.seq))
            this.pending.set(e.seq, e);
        this.advance();
        if (closed?.event.type === 'item.closed' && !this.closedEvent) this.offerItemEvent(closed.event);
      })
      .catch((err: unknown) => {
        this.options.logger.warn({ err, itemId: this.itemId }, 'catch-up read failed, retrying');
        setTimeout(() => this.catchUp(Math.min(delayMs * 2, 5000)), delayMs).unref();
      });
  }

  /** A later bid arrived before an earlier one: give the earlier one a moment, then read the stream. */
  private scheduleGapFill(): void {
    if (this.gapTimer) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = undefined;
      if (this.pending.size === 0) return;
      this.options.metrics.drops.inc({ reason: 'gap_fill' });
      this.options.reader
        .readAll(subjects(this.options.topology).bidAccepted(this.itemId))
        .then((events) => {
          for (const e of events)
            if (e.type === 'bid.accepted' && e.seq > this.lastSeq) this.pending.set(e.seq, e);
          this.advance();
        })
        .catch((err: unknown) => this.options.logger.warn({ err, itemId: this.itemId }, 'gap fill failed'))
        .finally(() => {
          this.gapDelayMs = Math.min(this.gapDelayMs * 2, 5000);
          if (this.pending.size > 0) this.scheduleGapFill();
        });
    }, this.gapDelayMs);
  }

  /**
   * Sends the bids after `afterSeq`, then makes the connection live. The replay from history and
   * the switch to live happen in one synchronous step, so nothing falls in between.
   */
  async watch(conn: Connection, afterSeq: number): Promise<number> {
    await this.ready;
    const oldest = this.history[0]?.payload.seq ?? this.lastSeq + 1;
    let older: BidFrame[] = [];
    if (afterSeq + 1 < oldest) {
      // Older than the in-memory history: read them from the stream (rare; huge auctions only).
      const events = await this.options.reader.readAll(
        subjects(this.options.topology).bidAccepted(this.itemId),
      );
      older = events
        .filter((e): e is BidAccepted => e.type === 'bid.accepted' && e.seq > afterSeq && e.seq < oldest)
        .sort((a, b) => a.seq - b.seq)
        .map((e) => new Frame('bid', bidView(e)));
    }
    this.watchers.delete(conn);
    let sent = afterSeq;
    for (const frame of [...older, ...this.history]) {
      if (frame.payload.seq === sent + 1) {
        this.send(conn, frame);
        sent = frame.payload.seq;
      }
    }
    // A client ahead of us (it saw bids on another replica that we have not yet): it is sent
    // nothing until the feed passes what it already has.
    this.watchers.set(conn, Math.max(sent, afterSeq));
    if (this.closedEvent && sent >= this.lastSeq) this.send(conn, itemFrame(this.closedEvent));
    return Math.max(sent, afterSeq);
  }

  unwatch(conn: Connection): void {
    this.watchers.delete(conn);
  }

  private send(conn: Connection, frame: Frame): void {
    conn.send(frame);
    this.options.metrics.eventsOut.inc({ event: frame.event });
  }

  /** Unsubscribes; the feed delivers nothing more. */
  dispose(): void {
    this.closed = true;
    clearTimeout(this.gapTimer);
    clearTimeout(this.lingerTimer);
    for (const sub of this.subscriptions) sub.close();
    this.subscriptions = [];
  }
}
