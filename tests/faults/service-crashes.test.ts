import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjects } from '@gavel/shared';
import { waitFor } from '@gavel/shared/testing';
import { FaultWorld } from './support/fault-world.js';
import { underTraffic } from './support/scenario.js';
import type { Traffic } from './support/traffic.js';

/**
 * kill -9 of each service under steady bids, chat, DMs and watchers, on dependencies of the
 * test's own. After each: 0 accepted bids or acknowledged messages lost, 0 duplicated, 0 gaps at
 * any watcher, and the other services stayed ready throughout.
 */

const STREAM = 'GAVEL';
const OUTBOX = 'gavel:outbox';
const topology = { stream: STREAM, prefix: 'gavel' };

describe('kill -9 of a service under traffic', { timeout: 600_000 }, () => {
  let world: FaultWorld;
  let redis: Redis;
  beforeAll(async () => {
    world = await FaultWorld.start();
    redis = new Redis(world.redis.url);
  }, 600_000);
  afterAll(async () => {
    redis?.disconnect();
    await world?.stop();
  });

  const othersReady = async (killed: 'api' | 'broadcast' | 'archival') => {
    for (const service of ['api', 'broadcast', 'archival'] as const) {
      if (service === killed) continue;
      expect((await world.readiness(service)).status, `${service} /readyz while ${killed} is down`).toBe(200);
    }
  };

  /** Duplicates the relay's publishes met in JetStream (its metric), on the running api. */
  const duplicatesPublished = async () => {
    const text = await (await fetch(`${world.url('api')}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('gavel_outbox_published_total{') && l.includes('result="duplicate"'));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  /** The running api's relay publishes so far, by result (for failure messages). */
  const publishedByResult = async () => {
    const text = await (await fetch(`${world.url('api')}/metrics`)).text().catch(() => '');
    return text
      .split('\n')
      .filter((l) => l.startsWith('gavel_outbox_published_total{'))
      .map((l) => `${/result="([^"]+)"/.exec(l)?.[1]} ${l.split(' ').pop()}`)
      .join(', ');
  };

  /** Outbox entries the relay read and has not acknowledged (XPENDING). */
  const outboxPending = async () => {
    const [count] = (await redis.xpending(OUTBOX, 'relay')) as [number];
    return count;
  };

  /** The stream sequence of the newest stored bid of any of the traffic's items. */
  const newestStoredBid = async (traffic: Traffic) => {
    const nc = await world.natsClient();
    try {
      const jsm = await nc.jetstreamManager();
      let newest = 0;
      for (const itemId of traffic.items) {
        const m = await jsm.streams
          .getMessage(STREAM, { last_by_subj: subjects(topology).bidAccepted(itemId) })
          .catch(() => null);
        newest = Math.max(newest, m?.seq ?? 0);
      }
      return newest;
    } finally {
      await nc.close();
    }
  };

  it('api: every accepted bid reaches PostgreSQL once and every watcher in order', async () => {
    await underTraffic(world, async () => {
      await world.killService('api');
      await othersReady('api');
      await world.startService('api');
      await world.waitReadiness('api', true);
    });
  });

  it('api between JetStream storing its publish and the relay hearing the ack', async () => {
    await underTraffic(world, async (traffic) => {
      const link = world.link('api->nats');
      const before = await newestStoredBid(traffic);
      // The relay's next publishes land in JetStream; the proxy holds their acks back.
      link.holdReplies();
      await waitFor(async () => (await newestStoredBid(traffic)) > before && (await outboxPending()) > 0, {
        timeoutMs: 60_000,
        intervalMs: 100,
        what: 'a bid stored in JetStream whose ack the relay never heard',
      });
      await world.killService('api');
      link.restore();
      // Stored in the stream, still in the outbox: the next relay publishes it again.
      expect(await outboxPending()).toBeGreaterThan(0);
      await world.startService('api');
      await waitFor(async () => (await duplicatesPublished()) > 0, {
        timeoutMs: 60_000,
        what: 'the new relay to republish what JetStream already had',
      });
    });
  });

  it('api after hearing the ack, before removing the entries from the outbox', async () => {
    await underTraffic(world, async (traffic) => {
      const before = await newestStoredBid(traffic);
      // OUTBOX_ACK_DELAY_MS holds the relay between JetStream's ack and its XACK/XDEL. The running
      // api stops cleanly first (SIGTERM: its relay finishes its round and acknowledges what it
      // published).
      await world.killService('api', 'SIGTERM');
      await world.startService('api', { OUTBOX_ACK_DELAY_MS: '600000' }).catch(async (err: unknown) => {
        await world.startService('api');
        throw err;
      });
      let seen = '';
      await waitFor(
        async () => {
          // The held relay heard JetStream's acks (new bids, or entries of the stopped relay it
          // took over: both are stored) and has not removed them from the outbox.
          const newest = await newestStoredBid(traffic);
          const pending = await outboxPending();
          const heard = await publishedByResult();
          seen = `stored up to ${newest} (before: ${before}), ${pending} pending, relay: ${heard}`;
          return /\b(ok|duplicate) [1-9]/.test(heard) && pending > 0;
        },
        { timeoutMs: 60_000, intervalMs: 100, what: 'published bids left pending in the outbox' },
      ).catch(async (err: unknown) => {
        console.log(
          `last seen: ${seen}\n${await (await fetch(`${world.url('api')}/health`)).text().catch(String)}`,
        );
        // Leave a working api to the next test.
        await world.restartService('api');
        throw err;
      });
      await world.killService('api');
      expect(await outboxPending()).toBeGreaterThan(0);
      await world.startService('api');
      await waitFor(async () => (await duplicatesPublished()) > 0, {
        timeoutMs: 60_000,
        what: 'the new relay to republish what JetStream already had',
      });
    });
  });

  it('archival: every event is stored exactly once after redelivery', async () => {
    await underTraffic(world, async (traffic) => {
      await world.killService('archival');
      await othersReady('archival');
      // Events keep arriving while no worker runs; they wait in the stream.
      await traffic.flowing({ bids: 20, chats: 2, dms: 1 });
      await world.startService('archival');
    });
  });

  it('broadcast: watchers resume from what they have and miss nothing', async () => {
    await underTraffic(world, async () => {
      await world.killService('broadcast');
      await othersReady('broadcast');
      await world.startService('broadcast');
      await world.waitReadiness('broadcast', true);
    });
  });
});
