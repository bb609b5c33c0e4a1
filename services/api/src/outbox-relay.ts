import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { JetStreamClient, NatsConnection } from 'nats';
import {
  connectNats,
  decodeEvent,
  encodeEvent,
  ensureStreams,
  subjectOf,
  type Logger,
  type Topology,
} from '@gavel/shared';
import { OUTBOX_GROUP, type RedisKeys } from './redis-keys.js';

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
  readonly onPublish?: (result: PublishResult, count: number) => void;
  /** @default 1000 */
  readonly blockMs?: number;
}

type StreamEntry = [id: string, fields: string[]];

/**
 * Moves events from the Redis outbox stream to JetStream. Replicas share one consumer group, so
 * each entry goes to one relay; an entry is XACKed and XDELed only after JetStream acknowledged
 * it. Entries left pending by a dead relay are claimed after `claimIdleMs` and published again;
 * the Nats-Msg-Id (= event id) makes JetStream drop the copy if the first publish had landed.
 */
export class OutboxRelay {
  readonly consumer = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;

  /** `redis` must be a dedicated connection: XREADGROUP BLOCK holds it. */
  constructor(
    private readonly redis: Redis,
    private readonly options: OutboxRelayOptions,
  ) {}

  /** For /health and /readyz: resolves when NATS answers. */
  async checkNats(): Promise<void> {
    if (!this.nc || this.nc.isClosed()) throw new Error('not connected');
    await this.nc.flush();
  }

  /** Blocks until `signal` aborts, retrying whatever fails (Redis or NATS down) with a pause. */
  async run(signal: AbortSignal): Promise<void> {
    const abort = () => this.redis.disconnect();
    signal.addEventListener('abort', abort, { once: true });
    try {
      await this.retrying(signal, 'outbox group', () => this.ensureGroup());
      await this.retrying(signal, 'nats', () => this.connect());
      while (!signal.aborted) {
        try {
          const moved = await this.round();
          if (moved === 'failed') await sleep(500, undefined, { signal }).catch(() => undefined);
        } catch (err) {
          if (signal.aborted) break;
          // The outbox key was deleted (and its group with it): recreate the group.
          if (String(err).includes('NOGROUP')) await this.ensureGroup().catch(() => undefined);
          else this.options.logger.warn({ err }, 'outbox relay round failed');
          await sleep(500, undefined, { signal }).catch(() => undefined);
        }
      }
    } finally {
      signal.removeEventListener('abort', abort);
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

  private async ensureGroup(): Promise<void> {
    try {
      // From 0: entries appended before any relay ever ran are published too.
      await this.redis.xgroup('CREATE', this.options.keys.outbox, OUTBOX_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!String(err).includes('BUSYGROUP')) throw err;
    }
  }

  private async connect(): Promise<void> {
    const nc = await connectNats(this.options.natsUrl, `gavel-api-relay-${this.consumer}`);
    try {
      await ensureStreams(await nc.jetstreamManager(), this.options.topology);
    } catch (err) {
      await nc.close();
      throw err;
    }
    this.nc = nc;
    this.js = nc.jetstream();
  }

  /** One round: our own unacknowledged entries first, then abandoned ones, then new ones. */
  private async round(): Promise<'idle' | 'moved' | 'failed'> {
    const { keys, batch } = this.options;
    let entries = await this.readGroup('0', 0);
    if (entries.length === 0) {
      const claimed = (await this.redis.call(
        'XAUTOCLAIM',
        keys.outbox,
        OUTBOX_GROUP,
        this.consumer,
        String(this.options.claimIdleMs),
        '0-0',
        'COUNT',
        String(batch),
      )) as [string, StreamEntry[], string[]];
      entries = claimed[1].filter((e) => Array.isArray(e[1]));
      if (entries.length > 0)
        this.options.logger.info({ count: entries.length }, 'claimed abandoned outbox entries');
    }
    if (entries.length === 0) entries = await this.readGroup('>', this.options.blockMs ?? 1000);
    if (entries.length === 0) return 'idle';
    return (await this.publish(entries)) ? 'moved' : 'failed';
  }

  private async readGroup(from: '0' | '>', blockMs: number): Promise<StreamEntry[]> {
    const args = ['GROUP', OUTBOX_GROUP, this.consumer, 'COUNT', String(this.options.batch)];
    if (blockMs > 0) args.push('BLOCK', String(blockMs));
    const reply = (await this.redis.call(
      'XREADGROUP',
      ...args,
      'STREAMS',
      this.options.keys.outbox,
      from,
    )) as Array<[string, StreamEntry[]]> | null;
    // An entry deleted while still pending comes back with no fields: nothing left to publish.
    const entries = reply?.[0]?.[1] ?? [];
    const gone = entries.filter((e) => !Array.isArray(e[1])).map((e) => e[0]);
    if (gone.length > 0) await this.redis.xack(this.options.keys.outbox, OUTBOX_GROUP, ...gone);
    return entries.filter((e) => Array.isArray(e[1]));
  }

  /** Publishes a batch in outbox order; returns false if any publish failed (kept for the next round). */
  private async publish(entries: StreamEntry[]): Promise<boolean> {
    const js = this.js;
    if (!js) return false;
    const { topology, onPublish, logger } = this.options;
    const done: string[] = [];
    // Sent back to back on one connection, so JetStream stores them in this order.
    const outcomes = await Promise.all(
      entries.map(async ([id, fields]) => {
        const raw = fieldValue(fields, 'event');
        const decoded = raw === undefined ? null : decodeEvent(raw);
        if (!decoded?.ok) {
          // Cannot ever be published: drop it loudly rather than block the outbox.
          logger.error({ id, reason: decoded?.reason ?? 'no event field' }, 'invalid outbox entry dropped');
          done.push(id);
          return 'invalid' as const;
        }
        try {
          const ack = await js.publish(subjectOf(decoded.event, topology), encodeEvent(decoded.event), {
            msgID: decoded.event.id,
            expect: { streamName: topology.stream },
            timeout: 2000,
          });
          done.push(id);
          return ack.duplicate ? ('duplicate' as const) : ('ok' as const);
        } catch (err) {
          logger.debug({ err, id }, 'publish failed');
          return 'failed' as const;
        }
      }),
    );
    for (const result of ['ok', 'duplicate', 'failed', 'invalid'] as const) {
      const n = outcomes.filter((o) => o === result).length;
      if (n > 0) onPublish?.(result, n);
    }
    if (done.length > 0) {
      if (this.options.ackDelayMs) await sleep(this.options.ackDelayMs);
      await this.redis
        .multi()
        .xack(this.options.keys.outbox, OUTBOX_GROUP, ...done)
        .xdel(this.options.keys.outbox, ...done)
        .exec();
    }
    return done.length === entries.length;
  }
}

function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
