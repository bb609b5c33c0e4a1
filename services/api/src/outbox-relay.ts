import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from 'nats';
import {
  connectNats,
  contextOfTraceparent,
  ensureStreams,
  isId,
  JetStreamPublisher,
  startPublish,
  subjectOf,
  type GavelEvent,
  type GavelEventType,
  type Logger,
  type Topology,
} from '@gavel/shared';
import { noteRedirect, onNodeOf, type RedisClient } from './redis-client.js';
import { OUTBOX_GROUP, type Partition, type RedisKeys } from './redis-keys.js';

export type PublishResult = 'ok' | 'duplicate' | 'failed' | 'invalid';

export interface OutboxRelayOptions {
  readonly keys: RedisKeys;
  readonly topology: Topology;
  readonly natsUrl: string;
  readonly logger: Logger;
  /** Entries per round. */
  readonly batch: number;
  /** Entries pending this long on another consumer are taken over. */
  readonly claimIdleMs: number;
  /** Fault injection for crash tests: wait between the publish ack and XACK/XDEL. @default 0 */
  readonly ackDelayMs?: number;
  /**
   * After a round that moved fewer entries than `batch`, wait this long before reading again,
   * so that under load each round (two Redis round trips and a NATS flush) carries many events
   * instead of one or two. The first event after a quiet spell is never delayed. @default 0
   */
  readonly lingerMs?: number;
  readonly onPublish?: (result: PublishResult, count: number) => void;
  /** With one partition, how long a read waits for new entries (XREADGROUP BLOCK). @default 1000 */
  readonly blockMs?: number;
  /**
   * With several partitions (a cluster) no read can wait on all their streams at once (they are
   * on different slots), so the relay reads them all without blocking and, when every one was
   * empty, pauses: this long after a round that moved something, doubling with each empty round
   * up to idlePollMaxMs. A bid accepted by this process wakes the relay at once (wake()), so the
   * longer pause delays only entries written by other replicas, or left by a crashed one.
   * @default 10
   */
  readonly idlePollMs?: number;
  /** The longest pause between empty rounds over several partitions. @default 250 */
  readonly idlePollMaxMs?: number;
}

/** What the relay knows about one partition's outbox stream. */
interface PartitionState {
  readonly partition: Partition;
  /** The consumer group exists (created, or found to exist). */
  grouped: boolean;
  /** Entries of ours may be pending (a publish or an XACK failed): read them before new ones. */
  ownPending: boolean;
  /** When abandoned entries of other relays were last looked for. */
  lastClaimAt: number;
  /** Consecutive failed reads or acks (its shard is down or failing over). */
  failures: number;
  /** A failing partition is left out of the rounds until then (ms), so it cannot slow the others. */
  retryAt: number;
}

/** How long a publish waits for JetStream's answer before the entry is left for the next round. */
const PUBLISH_TIMEOUT_MS = 2000;

/** Longest pause of a failing partition between attempts. */
const MAX_PARTITION_BACKOFF_MS = 5000;

type StreamEntry = [id: string, fields: string[]];

/** The events the api writes to its outbox, and the field naming each one's subject. */
const ROUTING_FIELD = {
  'bid.accepted': 'itemId',
  'item.opened': 'itemId',
  'item.extended': 'itemId',
  'item.closed': 'itemId',
  'room.created': 'roomId',
  'room.member_added': 'roomId',
  'room.member_removed': 'roomId',
} as const satisfies Partial<Record<GavelEventType, string>>;

const encoder = new TextEncoder();

/**
 * Where an outbox entry goes: its id (the Nats-Msg-Id) and subject. The api wrote the entry
 * and its events were built to the wire format there (the tests check them against the
 * schemas), so the relay reads only what routing needs and publishes the stored bytes as
 * they are, instead of validating and encoding every event a second time.
 */
function routeOf(raw: string, topology: Topology): { id: string; type: string; subject: string } | null {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return null;
  }
  const { id, type } = event;
  if (typeof id !== 'string' || id.length === 0 || id.length > 128) return null;
  if (typeof type !== 'string' || !Object.hasOwn(ROUTING_FIELD, type)) return null;
  if (!isId(event[ROUTING_FIELD[type as keyof typeof ROUTING_FIELD]])) return null;
  return { id, type, subject: subjectOf(event as unknown as GavelEvent, topology) };
}

/**
 * Moves events from the Redis outbox streams (one per partition, see redis-keys.ts) to
 * JetStream. Replicas share one consumer group per stream, so each entry goes to one relay; an
 * entry is XACKed and XDELed only after JetStream acknowledged it. Entries left pending by a
 * dead relay are claimed after `claimIdleMs` and published again; the Nats-Msg-Id (= event id)
 * makes JetStream drop the copy if the first publish had landed.
 *
 * Events of one item are in one stream, read in order and published in order on one NATS
 * connection, so JetStream stores them in the order Redis accepted them.
 */
export class OutboxRelay {
  readonly consumer = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private nc: NatsConnection | null = null;
  private js: JetStreamPublisher | null = null;
  private readonly states: PartitionState[];
  /** Ends the pause between empty rounds (see wake). */
  private wakeUp: (() => void) | undefined;
  private woken = false;
  /** A read is waiting on the outbox stream (XREADGROUP BLOCK): a stop cuts its connection. */
  private blocked = false;
  /** The relay was told to stop: no further read waits. */
  private stopping = false;

  /** `redis` must be a dedicated connection: XREADGROUP BLOCK holds it. */
  constructor(
    private readonly redis: RedisClient,
    private readonly options: OutboxRelayOptions,
  ) {
    this.states = options.keys.partitions.map((partition) => ({
      partition,
      grouped: false,
      ownPending: true,
      lastClaimAt: 0,
      failures: 0,
      retryAt: 0,
    }));
  }

  /**
   * An entry was just written to the outbox by this process: read now rather than after the
   * pause between empty rounds (a cluster's relay polls; a single node's blocks, and needs none).
   */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Waits `ms`, or less if woken or aborted. */
  private async pause(ms: number, signal: AbortSignal): Promise<void> {
    if (this.woken) return;
    const woken = new AbortController();
    this.wakeUp = () => woken.abort();
    const both = AbortSignal.any([signal, woken.signal]);
    await sleep(ms, undefined, { signal: both }).catch(() => undefined);
    this.wakeUp = undefined;
  }

  /** For /health and /readyz: resolves when NATS answers. */
  async checkNats(): Promise<void> {
    if (!this.nc || this.nc.isClosed()) throw new Error('not connected');
    await this.nc.flush();
  }

  /**
   * Blocks until `signal` aborts, retrying whatever fails (Redis or NATS down) with a pause. A
   * stop lets the round in progress finish (its publishes answered, its entries acknowledged), so
   * a clean stop leaves nothing published and pending for the next relay to publish again; only
   * a read waiting on the outbox is cut short.
   */
  async run(signal: AbortSignal): Promise<void> {
    const abort = () => {
      this.stopping = true;
      if (this.blocked) this.redis.disconnect();
    };
    signal.addEventListener('abort', abort, { once: true });
    try {
      await this.retrying(signal, 'nats', () => this.connect());
      const minIdleMs = this.options.idlePollMs ?? 10;
      const maxIdleMs = Math.max(minIdleMs, this.options.idlePollMaxMs ?? 250);
      let idleMs = minIdleMs;
      while (!signal.aborted) {
        try {
          this.woken = false;
          const moved = await this.round();
          if (moved !== 'idle') idleMs = minIdleMs;
          if (moved === 'failed') await sleep(500, undefined, { signal }).catch(() => undefined);
          else if (moved === 'some' && this.options.lingerMs)
            await sleep(this.options.lingerMs, undefined, { signal }).catch(() => undefined);
          else if (moved === 'idle' && this.states.length > 1) {
            // Empty rounds cost a read of every partition: a quiet relay polls ever less often.
            await this.pause(idleMs, signal);
            idleMs = Math.min(maxIdleMs, idleMs * 2);
          }
        } catch (err) {
          if (signal.aborted) break;
          this.options.logger.warn({ err }, 'outbox relay round failed');
          await sleep(500, undefined, { signal }).catch(() => undefined);
        }
      }
    } finally {
      signal.removeEventListener('abort', abort);
      this.js?.close();
      if (this.nc) await this.nc.drain().catch(() => undefined);
    }
  }

  private async retrying(signal: AbortSignal, what: string, fn: () => Promise<void>): Promise<void> {
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        await fn();
        return;
      } catch (err) {
        if (attempt % 20 === 0)
          this.options.logger.warn({ err }, `outbox relay: ${what} unavailable, retrying`);
        await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 5)), undefined, { signal }).catch(
          () => undefined,
        );
      }
    }
  }

  private async ensureGroup(state: PartitionState): Promise<void> {
    const { outbox } = state.partition;
    try {
      // From 0: entries appended before any relay ever ran are published too.
      await onNodeOf(this.redis, outbox, (p) => p.xgroup('CREATE', outbox, OUTBOX_GROUP, '0', 'MKSTREAM'));
    } catch (err) {
      if (!String(err).includes('BUSYGROUP')) throw err;
    }
    state.grouped = true;
  }

  /** A read or an ack of one partition failed: it sits out a while, the others go on. */
  private partitionFailed(state: PartitionState, err: unknown): void {
    // The outbox key was deleted (and its group with it): the next attempt recreates the group.
    if (String(err).includes('NOGROUP')) state.grouped = false;
    noteRedirect(this.redis, err);
    state.failures++;
    state.ownPending = true;
    state.retryAt = Date.now() + Math.min(MAX_PARTITION_BACKOFF_MS, 100 * 2 ** Math.min(state.failures, 6));
    const log = this.options.logger;
    const fields = { err, partition: state.partition.index, failures: state.failures };
    if (state.failures === 3 || state.failures % 50 === 0) log.warn(fields, 'outbox partition failing');
    else log.debug(fields, 'outbox partition failed');
  }

  private partitionOk(state: PartitionState): void {
    if (state.failures >= 3)
      this.options.logger.info({ partition: state.partition.index }, 'outbox partition recovered');
    state.failures = 0;
    state.retryAt = 0;
  }

  private async connect(): Promise<void> {
    // No async stack traces: nats.js would otherwise build an error object for every request.
    const nc = await connectNats(this.options.natsUrl, `gavel-api-relay-${this.consumer}`, {
      noAsyncTraces: true,
    });
    try {
      await ensureStreams(await nc.jetstreamManager(), this.options.topology);
    } catch (err) {
      await nc.close();
      throw err;
    }
    this.nc = nc;
    this.js = new JetStreamPublisher(nc, PUBLISH_TIMEOUT_MS);
  }

  /**
   * One round over every partition: in each, our own unacknowledged entries first (when there
   * may be any), then abandoned ones (looked for at most every claimIdleMs / 2, capped at a
   * second), then new ones. A round that moves new entries and acknowledges them all costs two
   * Redis round trips per node (auto-pipelined in a cluster).
   */
  private async round(): Promise<'idle' | 'some' | 'full' | 'failed'> {
    // One partition: wait on its stream for new entries. Several: read each without waiting.
    const blockMs = this.states.length === 1 ? (this.options.blockMs ?? 1000) : 0;
    const now = Date.now();
    const due = this.states.filter((state) => state.retryAt <= now);
    const taken = await Promise.allSettled(due.map((state) => this.take(state, blockMs)));
    const batches: Array<{ state: PartitionState; entries: StreamEntry[] }> = [];
    taken.forEach((result, i) => {
      const state = due[i]!;
      if (result.status === 'rejected') return this.partitionFailed(state, result.reason);
      this.partitionOk(state);
      if (result.value.length > 0) batches.push({ state, entries: result.value });
    });
    if (batches.length === 0) return taken.some((r) => r.status === 'fulfilled') ? 'idle' : 'failed';
    // Until the XACK below has landed, these entries are ours and pending.
    for (const { state } of batches) state.ownPending = true;
    const all = await this.publish(batches);
    if (!all) return 'failed';
    return batches.some((b) => b.entries.length >= this.options.batch) ? 'full' : 'some';
  }

  /** The entries of one partition to publish this round. */
  private async take(state: PartitionState, blockMs: number): Promise<StreamEntry[]> {
    const { batch } = this.options;
    const { outbox } = state.partition;
    if (!state.grouped) await this.ensureGroup(state);
    let entries: StreamEntry[] = [];
    if (state.ownPending) {
      entries = await this.readGroup(outbox, '0', 0);
      state.ownPending = entries.length > 0;
    }
    const now = Date.now();
    if (entries.length === 0 && now - state.lastClaimAt >= Math.min(1000, this.options.claimIdleMs / 2)) {
      state.lastClaimAt = now;
      const claimed = (await this.redis.call(
        'XAUTOCLAIM',
        outbox,
        OUTBOX_GROUP,
        this.consumer,
        String(this.options.claimIdleMs),
        '0-0',
        'COUNT',
        String(batch),
      )) as [string, StreamEntry[], string[]];
      entries = claimed[1].filter((e) => Array.isArray(e[1]));
      if (entries.length > 0)
        this.options.logger.info(
          { count: entries.length, partition: state.partition.index },
          'claimed abandoned outbox entries',
        );
    }
    if (entries.length === 0) entries = await this.readGroup(outbox, '>', blockMs);
    return entries;
  }

  private async readGroup(outbox: string, from: '0' | '>', blockMs: number): Promise<StreamEntry[]> {
    const args = ['GROUP', OUTBOX_GROUP, this.consumer, 'COUNT', String(this.options.batch)];
    const blocking = blockMs > 0 && !this.stopping;
    if (blocking) args.push('BLOCK', String(blockMs));
    this.blocked = blocking;
    let reply: Array<[string, StreamEntry[]]> | null;
    try {
      reply = (await this.redis.call('XREADGROUP', ...args, 'STREAMS', outbox, from)) as typeof reply;
    } finally {
      this.blocked = false;
    }
    // An entry deleted while still pending comes back with no fields: nothing left to publish.
    const entries = reply?.[0]?.[1] ?? [];
    const gone = entries.filter((e) => !Array.isArray(e[1])).map((e) => e[0]);
    if (gone.length > 0) await this.redis.xack(outbox, OUTBOX_GROUP, ...gone);
    return entries.filter((e) => Array.isArray(e[1]));
  }

  /**
   * Publishes the batches, each in outbox order; entries that failed stay pending for the next
   * round. Returns false if any publish failed.
   */
  private async publish(
    batches: ReadonlyArray<{ state: PartitionState; entries: StreamEntry[] }>,
  ): Promise<boolean> {
    const js = this.js;
    if (!js) return false;
    const { topology, onPublish, logger } = this.options;
    const done = batches.map(() => [] as string[]);
    // Sent back to back on one connection, so JetStream stores them in this order.
    const outcomes = await Promise.all(
      batches.flatMap(({ entries }, b) =>
        entries.map(async ([id, fields]) => {
          const raw = fieldValue(fields, 'event');
          const route = raw === undefined ? null : routeOf(raw, topology);
          if (raw === undefined || !route) {
            // Cannot ever be published: drop it loudly rather than block the outbox.
            logger.error(
              { id, reason: raw === undefined ? 'no event field' : 'not a routable event' },
              'invalid outbox entry dropped',
            );
            done[b]!.push(id);
            return 'invalid' as const;
          }
          // The request that wrote the entry, however long ago and whichever relay publishes it.
          const parent = contextOfTraceparent(fieldValue(fields, 'traceparent'));
          const traced =
            parent && startPublish(route.type, route.subject, { 'gavel.event.id': route.id }, parent);
          try {
            const ack = await js.publish(route.subject, encoder.encode(raw), {
              msgID: route.id,
              expectStream: topology.stream,
              ...(traced?.headers ? { headers: traced.headers } : {}),
            });
            done[b]!.push(id);
            traced?.end(undefined, { 'gavel.outbox.duplicate': ack.duplicate });
            return ack.duplicate ? ('duplicate' as const) : ('ok' as const);
          } catch (err) {
            logger.debug({ err, id }, 'publish failed');
            traced?.end(err);
            return 'failed' as const;
          }
        }),
      ),
    );
    for (const result of ['ok', 'duplicate', 'failed', 'invalid'] as const) {
      const n = outcomes.filter((o) => o === result).length;
      if (n > 0) onPublish?.(result, n);
    }
    if (this.options.ackDelayMs && done.some((d) => d.length > 0)) await sleep(this.options.ackDelayMs);
    const acked = await Promise.all(
      batches.map(async ({ state, entries }, b) => {
        const ids = done[b]!;
        try {
          if (ids.length > 0) {
            const { outbox } = state.partition;
            const results = await this.redis
              .multi()
              .xack(outbox, OUTBOX_GROUP, ...ids)
              .xdel(outbox, ...ids)
              .exec();
            const failed = results?.find(([err]) => err)?.[0];
            if (!results || failed) throw failed ?? new Error('outbox ack aborted');
          }
        } catch (err) {
          // Published but not acknowledged: pending, published again later (JetStream drops the copy).
          this.partitionFailed(state, err);
          return false;
        }
        state.ownPending = ids.length !== entries.length;
        return !state.ownPending;
      }),
    );
    return acked.every(Boolean);
  }
}

function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
