import { formatCents, subjects, type BidAccepted, type GavelEvent, type Topology } from '@gavel/shared';
import type { Logger } from 'pino';
import type { Connection } from './connections.js';
import type { BroadcastMetrics } from './metrics.js';
import type { StreamReader } from './stream-reader.js';

/** What a client receives as `bid`. */
export interface BidView {
  readonly id: string;
  readonly itemId: string;
  readonly seq: number;
  readonly userId: string;
  readonly amountCents: number;
  /** Decimal string of amountCents, for display. */
  readonly amount: string;
  readonly at: string;
}

export function bidView(e: BidAccepted): BidView {
  return {
    id: e.id,
    itemId: e.itemId,
    seq: e.seq,
    userId: e.userId,
    amountCents: e.amountCents,
    amount: formatCents(e.amountCents),
    at: e.at,
  };
}

interface FeedOptions {
  readonly reader: StreamReader;
  readonly topology: Topology;
  readonly historySize: number;
  readonly metrics: BroadcastMetrics;
  readonly logger: Logger;
  /** Keeps an unwatched feed this long, so that a quick re-watch does not re-read the stream. */
  readonly lingerMs: number;
  /** Emits once to every connection in a local group (see Connection.group). */
  readonly emitToGroup?: (name: string, event: string, payload: unknown) => void;
}

/**
 * The bids of one item as this replica delivers them: strictly in seq order, each seq once.
 * Live events from JetStream may arrive out of order or twice (outbox retries, several api
 * replicas); out-of-order ones wait in `pending` while the gap is fetched from the stream.
 */
class ItemFeed {
  /** Highest seq such that 1..lastSeq are all known. */
  lastSeq = 0;
  /** The most recent contiguous bids, ending at lastSeq. */
  private history: BidView[] = [];
  private readonly pending = new Map<number, BidAccepted>();
  /** For each watcher, the highest seq it has been sent. */
  readonly watchers = new Map<Connection, number>();
  /** Watchers in the local Socket.IO group of this item; always in step (sent === lastSeq). */
  private readonly inGroup = new Set<Connection>();
  private readonly groupName: string;
  private closedEvent: GavelEvent | null = null;
  private synced = false;
  readonly ready: Promise<void>;
  private gapTimer: NodeJS.Timeout | undefined;
  private gapDelayMs = 100;
  lingerTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly itemId: string,
    private readonly options: FeedOptions,
  ) {
    this.groupName = `feed:${itemId}`;
    this.ready = this.sync();
  }

  private setGrouped(conn: Connection, member: boolean): void {
    if (!conn.group || !this.options.emitToGroup || this.inGroup.has(conn) === member) return;
    if (member) this.inGroup.add(conn);
    else this.inGroup.delete(conn);
    conn.group(this.groupName, member);
  }

  /** Reads the item's stored bids once, then turns live. */
  private async sync(): Promise<void> {
    const s = subjects(this.options.topology);
    const [stored, closed] = await Promise.all([
      this.options.reader.readAll(s.bidAccepted(this.itemId)),
      this.options.reader.last(s.itemClosed(this.itemId)),
    ]);
    for (const e of stored) if (e.type === 'bid.accepted' && e.seq > this.lastSeq) this.pending.set(e.seq, e);
    if (closed) this.closedEvent = closed.event;
    this.synced = true;
    this.advance();
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

  /** item.extended / item.closed: passed to the current watchers as they come. */
  offerItemEvent(event: GavelEvent): void {
    if (event.type === 'item.closed') this.closedEvent = event;
    const name = event.type === 'item.closed' ? 'item:closed' : 'item:extended';
    for (const conn of this.watchers.keys()) this.send(conn, name, itemEventView(event));
  }

  private advance(): void {
    for (let next = this.pending.get(this.lastSeq + 1); next; next = this.pending.get(this.lastSeq + 1)) {
      this.pending.delete(next.seq);
      this.lastSeq = next.seq;
      const view = bidView(next);
      this.history.push(view);
      // Trim in halves, not per bid: a per-bid slice would copy the whole history on every bid.
      // The feed keeps between historySize and twice that.
      if (this.history.length >= 2 * this.options.historySize) {
        this.history = this.history.slice(-this.options.historySize);
      }
      // Grouped watchers are exactly those one step behind; they get one shared packet.
      let grouped = 0;
      for (const [conn, sent] of this.watchers) {
        if (sent === view.seq - 1) {
          this.watchers.set(conn, view.seq);
          if (this.inGroup.has(conn)) grouped++;
          else this.send(conn, 'bid', view);
        } else if (sent === view.seq) {
          // A client that was ahead of this replica is now in step.
          this.setGrouped(conn, true);
        }
      }
      if (grouped > 0) {
        this.options.emitToGroup?.(this.groupName, 'bid', view);
        this.options.metrics.eventsOut.inc({ event: 'bid' }, grouped);
      }
    }
    if (this.pending.size > 0) this.scheduleGapFill();
    else this.gapDelayMs = 100;
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
    const oldest = this.history[0]?.seq ?? this.lastSeq + 1;
    let older: BidView[] = [];
    if (afterSeq + 1 < oldest) {
      // Older than the in-memory history: read them from the stream (rare; huge auctions only).
      const events = await this.options.reader.readAll(
        subjects(this.options.topology).bidAccepted(this.itemId),
      );
      older = events
        .filter((e): e is BidAccepted => e.type === 'bid.accepted' && e.seq > afterSeq && e.seq < oldest)
        .sort((a, b) => a.seq - b.seq)
        .map(bidView);
    }
    this.setGrouped(conn, false);
    this.watchers.delete(conn);
    let sent = afterSeq;
    for (const view of [...older, ...this.history]) {
      if (view.seq === sent + 1) {
        this.send(conn, 'bid', view);
        sent = view.seq;
      }
    }
    // A client ahead of us (it saw bids on another replica that we have not yet): it is sent
    // nothing until the feed passes what it already has.
    this.watchers.set(conn, Math.max(sent, afterSeq));
    if (Math.max(sent, afterSeq) === this.lastSeq) this.setGrouped(conn, true);
    if (this.closedEvent && sent >= this.lastSeq)
      this.send(conn, 'item:closed', itemEventView(this.closedEvent));
    return Math.max(sent, afterSeq);
  }

  unwatch(conn: Connection): void {
    this.setGrouped(conn, false);
    this.watchers.delete(conn);
  }

  private send(conn: Connection, event: string, payload: unknown): void {
    conn.send(event, payload);
    this.options.metrics.eventsOut.inc({ event });
  }

  dispose(): void {
    clearTimeout(this.gapTimer);
    clearTimeout(this.lingerTimer);
  }
}

function itemEventView(event: GavelEvent): Record<string, unknown> {
  const { v: _v, type: _type, ...rest } = event;
  return rest;
}

/** The feeds of the items watched on this replica. */
export class ItemFeeds {
  private readonly feeds = new Map<string, ItemFeed>();

  constructor(private readonly options: FeedOptions) {}

  get size(): number {
    return this.feeds.size;
  }

  /** Routes a live event from the stream; events of items nobody watches here are ignored. */
  onEvent(event: GavelEvent): void {
    if (event.type === 'bid.accepted') this.feeds.get(event.itemId)?.offer(event);
    else if (event.type === 'item.extended' || event.type === 'item.closed') {
      this.feeds.get(event.itemId)?.offerItemEvent(event);
    }
  }

  /** Returns the highest seq the connection has after the replay. */
  async watch(conn: Connection, itemId: string, afterSeq: number): Promise<number> {
    let feed = this.feeds.get(itemId);
    if (!feed) {
      feed = new ItemFeed(itemId, this.options);
      this.feeds.set(itemId, feed);
      const created = feed;
      created.ready.catch(() => {
        if (this.feeds.get(itemId) === created) this.feeds.delete(itemId);
      });
    }
    clearTimeout(feed.lingerTimer);
    try {
      return await feed.watch(conn, afterSeq);
    } catch (err) {
      this.release(feed);
      throw err;
    }
  }

  unwatch(conn: Connection, itemId: string): void {
    const feed = this.feeds.get(itemId);
    if (!feed) return;
    feed.unwatch(conn);
    this.release(feed);
  }

  private release(feed: ItemFeed): void {
    if (feed.watchers.size > 0) return;
    clearTimeout(feed.lingerTimer);
    feed.lingerTimer = setTimeout(() => {
      if (feed.watchers.size === 0 && this.feeds.get(feed.itemId) === feed) {
        feed.dispose();
        this.feeds.delete(feed.itemId);
      }
    }, this.options.lingerMs);
    feed.lingerTimer.unref();
  }

  close(): void {
    for (const feed of this.feeds.values()) feed.dispose();
    this.feeds.clear();
  }
}
