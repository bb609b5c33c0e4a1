import { randomBytes } from 'node:crypto';
import { io as connectSocketIo, type Socket } from 'socket.io-client';
import { signToken, type ClientToServerEvents, type ServerToClientEvents } from '@gavel/shared';
import type { E2eOptions } from './cli-options.js';
import { createLatencyHistogram, recordNs, type Histogram } from './latency-histogram.js';
import { createClock } from './probe-frame.js';
import { TargetError } from './probe-transport.js';

export interface E2eProgress {
  readonly phase: 'connecting' | 'warmup' | 'measure' | 'drain';
  readonly bidsSent: number;
  readonly bidsAccepted: number;
  readonly events: number;
  readonly errors: number;
  readonly histogram: Histogram;
}

export interface E2eResult {
  readonly itemId: string;
  /** `bid` event at a watcher minus the bid's INTENDED send time: what the bidder's audience waits. */
  readonly bidToScreen: Histogram;
  /** `bid` event minus the arrival of the api's 201: the fan-out path alone. */
  readonly acceptedToScreen: Histogram;
  /** 201 arrival minus intended send time: the api's part. */
  readonly bidResponse: Histogram;
  readonly bids: {
    readonly scheduled: number;
    readonly accepted: number;
    /** 409 bid_too_low: two bids in flight crossed on the way; expected now and then. */
    readonly rejected: number;
    readonly failed: number;
    readonly statuses: Record<string, number>;
  };
  readonly events: {
    readonly expected: number;
    readonly received: number;
    readonly lost: number;
    readonly duplicates: number;
    /** Events that reached a watcher before the bidder had the 201 (counted as 0 in acceptedToScreen). */
    readonly beforeResponse: number;
  };
  readonly startedAt: string;
  readonly finishedAt: string;
}

interface BidRecord {
  readonly intendedNs: number;
  acceptedNs: number;
  readonly measured: boolean;
  seen: number;
}

const centsToAmount = (cents: number) => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;

async function postJson(base: URL, path: string, body: unknown, token?: string) {
  const url = new URL(path, base);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new TargetError(
      `cannot reach the api at ${base.origin}: ${cause?.code ?? cause?.message ?? String(err)}`,
    );
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json: json as Record<string, unknown> | undefined, text };
}

async function tokenFor(options: E2eOptions, userId: string): Promise<string> {
  if (options.authSecret) return signToken(options.authSecret, userId);
  const res = await postJson(options.apiUrl, '/api/v1/dev/token', { userId });
  if (res.status === 404) {
    throw new TargetError(
      `the api at ${options.apiUrl.origin} has no POST /api/v1/dev/token (DEV_TOKENS=false?): pass --auth-secret`,
    );
  }
  if (res.status === 429) {
    throw new TargetError(
      `POST /api/v1/dev/token is rate limited (429): pass --auth-secret, or wait a minute`,
    );
  }
  const token = res.json?.token;
  if (res.status >= 300 || typeof token !== 'string') {
    throw new TargetError(`POST /api/v1/dev/token answered ${res.status}: ${res.text.slice(0, 200)}`);
  }
  return token;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** A watcher's socket, typed by the declared protocol (event names, payloads, acks). */
type WatcherSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

function connectWatcher(options: E2eOptions, token: string, itemId: string): Promise<WatcherSocket> {
  return new Promise((resolve, reject) => {
    const socket: WatcherSocket = connectSocketIo(options.broadcastUrl.origin, {
      path: '/socket.io',
      auth: { token },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: options.connectTimeoutMs,
    });
    socket.once('connect_error', (err) => {
      socket.close();
      reject(new TargetError(`cannot connect a watcher to ${options.broadcastUrl.origin}: ${err.message}`));
    });
    socket.once('connect', () => {
      socket
        .timeout(options.connectTimeoutMs)
        .emitWithAck('item:watch', { itemId })
        .then((ack) => {
          if (ack?.ok) resolve(socket);
          else throw new Error(`item:watch refused: ${ack.code}: ${ack.message}`);
        })
        .catch((err: Error) => {
          socket.close();
          reject(new TargetError(`watcher could not watch ${itemId}: ${err.message}`));
        });
    });
  });
}

/**
 * Creates an item, connects K watchers to it through broadcast, then places bids through the
 * api at a constant rate (open loop, timed from the intended send time) and times each bid's
 * `bid` event at every watcher.
 */
export async function runE2e(
  options: E2eOptions,
  hooks: { onProgress?: (p: E2eProgress) => void; signal?: AbortSignal } = {},
): Promise<E2eResult> {
  const startedAt = new Date().toISOString();
  const clock = createClock();
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const itemId = `latency_${runId}`;
  const bidToScreen = createLatencyHistogram();
  const acceptedToScreen = createLatencyHistogram();
  const bidResponse = createLatencyHistogram();

  const bidderIds = Array.from({ length: options.bidders }, (_, i) => `lat_b${i}_${runId}`);
  // Watchers share a few users (a user may watch from many devices): the api rate-limits dev tokens.
  const watcherIds = Array.from({ length: Math.min(options.watchers, 5) }, (_, i) => `lat_w${i}_${runId}`);
  const bidderTokens = await mapLimit(bidderIds, 16, (id) => tokenFor(options, id));
  const watcherTokens = await mapLimit(watcherIds, 16, (id) => tokenFor(options, id));

  const totalS = options.warmupS + options.durationS;
  const created = await postJson(
    options.apiUrl,
    '/api/v1/items',
    {
      id: itemId,
      title: 'latency lab probe item',
      startingPrice: '1.00',
      minIncrement: '0.01',
      // Far enough out that no bid lands in the extension window and nothing closes mid-run.
      endsAt: new Date(Date.now() + (totalS + 3600) * 1000).toISOString(),
    },
    bidderTokens[0],
  );
  if (created.status !== 201) {
    throw new TargetError(`POST /api/v1/items answered ${created.status}: ${created.text.slice(0, 200)}`);
  }

  const bidsBySeq = new Map<number, BidRecord>();
  const early = new Map<number, number[]>();
  let events = 0;
  let eventsMeasured = 0;
  let duplicates = 0;
  let beforeResponse = 0;
  let accepted = 0;
  let acceptedMeasured = 0;
  let rejected = 0;
  let failed = 0;
  let sentBids = 0;
  const statuses: Record<string, number> = {};
  let phase: E2eProgress['phase'] = 'connecting';
  let onAllEvents: (() => void) | undefined;
  const expectedEvents = () => acceptedMeasured * options.watchers;

  const recordEvent = (bid: BidRecord, arrivedNs: number) => {
    bid.seen++;
    if (!bid.measured) return;
    eventsMeasured++;
    recordNs(bidToScreen, arrivedNs - bid.intendedNs);
    if (arrivedNs < bid.acceptedNs) beforeResponse++;
    recordNs(acceptedToScreen, Math.max(0, arrivedNs - bid.acceptedNs));
    if (phase === 'drain' && eventsMeasured >= expectedEvents()) onAllEvents?.();
  };

  const watchers = await Promise.allSettled(
    Array.from({ length: options.watchers }, (_, i) =>
      connectWatcher(options, watcherTokens[i % watcherTokens.length]!, itemId),
    ),
  );
  const sockets = watchers.flatMap((w) => (w.status === 'fulfilled' ? [w.value] : []));
  const progressTimer = setInterval(
    () =>
      hooks.onProgress?.({
        phase,
        bidsSent: sentBids,
        bidsAccepted: accepted,
        events,
        errors: failed,
        histogram: bidToScreen,
      }),
    250,
  );
  try {
    const failure = watchers.find((w): w is PromiseRejectedResult => w.status === 'rejected');
    if (failure) throw failure.reason;
    for (const socket of sockets) {
      let lastSeq = 0;
      socket.on('bid', (payload) => {
        const arrivedNs = clock();
        if (payload.itemId !== itemId) return;
        const seq = payload.seq;
        if (seq <= lastSeq) {
          duplicates++;
          return;
        }
        lastSeq = seq;
        events++;
        const bid = bidsBySeq.get(seq);
        if (bid && bid.acceptedNs > 0) recordEvent(bid, arrivedNs);
        else early.set(seq, [...(early.get(seq) ?? []), arrivedNs]);
      });
    }

    const intervalNs = 1e9 / options.rate;
    const warmupCount = Math.round(options.rate * options.warmupS);
    const total = warmupCount + Math.round(options.rate * options.durationS);
    const inFlight = new Set<Promise<void>>();
    const placeBid = async (index: number, intendedNs: number) => {
      const bidder = index % options.bidders;
      const res = await postJson(
        options.apiUrl,
        `/api/v1/items/${itemId}/bid`,
        { userId: bidderIds[bidder], amount: centsToAmount(100 + index + 1) },
        bidderTokens[bidder],
      ).catch(() => ({ status: 0, json: undefined, text: '' }));
      const acceptedNs = clock();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      const seq = res.json?.seq;
      if (res.status === 201 && typeof seq === 'number') {
        accepted++;
        const measured = index >= warmupCount;
        if (measured) {
          acceptedMeasured++;
          recordNs(bidResponse, acceptedNs - intendedNs);
        }
        const bid: BidRecord = { intendedNs, acceptedNs, measured, seen: 0 };
        bidsBySeq.set(seq, bid);
        for (const arrivedNs of early.get(seq) ?? []) recordEvent(bid, arrivedNs);
        early.delete(seq);
      } else if (res.status === 409) {
        rejected++;
      } else {
        failed++;
      }
    };

    const startNs = clock() + 5e6;
    phase = warmupCount > 0 ? 'warmup' : 'measure';
    await new Promise<void>((resolve) => {
      const tick = () => {
        if (hooks.signal?.aborted) return resolve();
        const now = clock();
        while (sentBids < total && startNs + sentBids * intervalNs <= now) {
          const p = placeBid(sentBids, startNs + sentBids * intervalNs);
          inFlight.add(p);
          void p.finally(() => inFlight.delete(p));
          sentBids++;
        }
        if (sentBids >= warmupCount && phase === 'warmup') phase = 'measure';
        if (sentBids >= total) return resolve();
        setTimeout(tick, Math.max(0, (startNs + sentBids * intervalNs - clock()) / 1e6));
      };
      tick();
    });
    await Promise.all(inFlight);
    phase = 'drain';
    if (eventsMeasured < expectedEvents() && !hooks.signal?.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.drainTimeoutMs);
        onAllEvents = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    clearInterval(progressTimer);
    for (const socket of sockets) socket.close();
  }

  return {
    itemId,
    bidToScreen,
    acceptedToScreen,
    bidResponse,
    bids: { scheduled: sentBids, accepted, rejected, failed, statuses },
    events: {
      expected: expectedEvents(),
      received: eventsMeasured,
      lost: Math.max(0, expectedEvents() - eventsMeasured),
      duplicates,
      beforeResponse,
    },
    startedAt,
    finishedAt: new Date().toISOString(),
  };
}
