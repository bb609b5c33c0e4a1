/** What fanout.ts asks of its watchers process, and what it answers. */
export type WatcherCommand =
  | {
      readonly type: 'connect';
      readonly group: string;
      /** socketio: the broadcast's Socket.IO; ws: its /ws; raw: the raw ws baseline. */
      readonly kind: 'socketio' | 'ws' | 'raw';
      /** Client i connects to urls[i % length] (several replicas). */
      readonly urls: readonly string[];
      readonly count: number;
      /** Client i is user w<userOffset + i % users>. @default count (a user per client) */
      readonly userOffset: number;
      readonly users?: number;
      /** The item to watch; none: idle connections. */
      readonly itemId?: string;
    }
  | {
      readonly type: 'expect';
      readonly group: string;
      /** Bids firstSeq..lastSeq, bid k intended to be published at startMs + (k - firstSeq) * intervalMs. */
      readonly firstSeq: number;
      readonly lastSeq: number;
      readonly startMs: number;
      readonly intervalMs: number;
      /** How long after the last intended publish to wait for stragglers. */
      readonly graceMs: number;
    }
  | { readonly type: 'close'; readonly group: string };

export type WatcherReply =
  | { readonly type: 'ready' | 'connected' | 'expecting' | 'closed'; readonly group: string }
  | {
      readonly type: 'received';
      readonly group: string;
      readonly deliveries: number;
      readonly expected: number;
      /** Deliveries that were not the client's previous seq + 1 (a gap, a repeat or a reorder). */
      readonly outOfOrder: number;
      /** Publish → received delay in µs, HdrHistogram, encodeIntoCompressedBase64. */
      readonly histogram: string;
    }
  | { readonly type: 'failed'; readonly group: string; readonly error: string };
