import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEvent, subjects } from '@gavel/shared';
import { waitFor } from '@gavel/shared/testing';
import { FaultWorld, type LinkName, type Readiness } from './support/fault-world.js';
import { underTraffic } from './support/scenario.js';
import type { Traffic } from './support/traffic.js';

/**
 * Every link between a service and a dependency cut (connections reset, new ones refused) or
 * stalled (a black hole: open, nothing flows) under steady traffic, then restored. The service
 * and the dependency both keep running: the service's readiness must say which dependency it
 * lost, come back by itself, and nothing accepted may be lost, duplicated or out of order.
 */

/** How the owner of a link reports losing it: /readyz, or the api's /health for what /readyz leaves out. */
const REPORTED_BY: Readonly<Record<LinkName, 'readyz' | 'health'>> = {
  'api->redis': 'readyz',
  // The api keeps taking bids into its outbox without NATS and serves bids without PostgreSQL.
  'api->nats': 'health',
  'api->postgres': 'health',
  'broadcast->redis': 'readyz',
  'broadcast->nats': 'readyz',
  'archival->nats': 'readyz',
  'archival->postgres': 'readyz',
};

/** While a link is down, what must still get through (so that the outage is felt under load). */
const FLOWS_WITHOUT: Readonly<Partial<Record<LinkName, { bids: number; chats: number; dms: number }>>> = {
  'api->nats': { bids: 10, chats: 1, dms: 0 },
  'api->postgres': { bids: 10, chats: 1, dms: 1 },
  'archival->nats': { bids: 10, chats: 1, dms: 1 },
  'archival->postgres': { bids: 10, chats: 1, dms: 1 },
  'broadcast->redis': { bids: 10, chats: 0, dms: 0 },
  'broadcast->nats': { bids: 10, chats: 0, dms: 0 },
  'api->redis': { bids: 0, chats: 1, dms: 1 },
};

describe('a TCP link cut or stalled under traffic', { timeout: 600_000 }, () => {
  let world: FaultWorld;
  beforeAll(async () => {
    world = await FaultWorld.start();
  }, 600_000);
  afterAll(async () => {
    await world?.stop();
  });

  const dependencyOf = (link: LinkName) => link.split('->')[1] as 'redis' | 'nats' | 'postgres';
  const serviceOf = (link: LinkName) => link.split('->')[0] as 'api' | 'broadcast' | 'archival';

  /** Waits until the link's owner reports the dependency as `ok`. */
  const reported = async (link: LinkName, ok: boolean): Promise<Readiness> => {
    const service = serviceOf(link);
    const dependency = dependencyOf(link);
    if (REPORTED_BY[link] === 'readyz') return world.waitReadiness(service, ok, ok ? undefined : dependency);
    return waitFor(
      async () => {
        const health = await world.apiHealth();
        return health.checks[dependency]?.ok === ok ? health : null;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `api /health ${dependency} ok=${ok}` },
    );
  };

  const outage = async (link: LinkName, traffic: Traffic, how: 'cut' | 'stall') => {
    const pids = world.pids();
    const proxy = world.link(link);
    if (how === 'cut') proxy.cut();
    else proxy.stall();
    await reported(link, false);
    const flows = FLOWS_WITHOUT[link];
    if (flows) await traffic.flowing(flows);
    proxy.restore();
    await reported(link, true);
    for (const service of ['api', 'broadcast', 'archival'] as const) await world.waitReadiness(service, true);
    // Recovered by itself: no process was restarted.
    expect(world.pids()).toEqual(pids);
  };

  for (const link of Object.keys(REPORTED_BY) as LinkName[]) {
    it(`${link} cut`, async () => {
      await underTraffic(world, (traffic) => outage(link, traffic, 'cut'), {
        items: 2,
        rooms: 1,
        watchers: 1,
      });
    });
  }

  // A black hole is worse than a reset: commands are sent and never answered. A bid whose Redis
  // command went unanswered is `outcome_unknown`, and the retry with its key says what happened.
  it('api->redis stalled', async () => {
    const report = await underTraffic(world, (traffic) => outage('api->redis', traffic, 'stall'), {
      items: 2,
      rooms: 1,
      watchers: 1,
    });
    expect(report.bids).toBeGreaterThan(0);
  });

  // Chat publishes reach JetStream late or never get an ack; each retry with the same
  // clientMsgId is stored once.
  it('broadcast->nats stalled', async () => {
    await underTraffic(world, (traffic) => outage('broadcast->nats', traffic, 'stall'), {
      items: 2,
      rooms: 1,
      watchers: 1,
    });
  });

  // Broadcast hears stored events live over core NATS. While its link is down, events stored by
  // others (the api's relay) are not heard; a later event of the subject would reveal the gap.
  // Here no later event comes: what was stored meanwhile must still reach watchers.
  describe('events stored while broadcast was cut from NATS', () => {
    const sockets: Socket[] = [];
    afterAll(() => {
      for (const s of sockets) s.close();
    });

    const post = async (path: string, body: unknown, userId: string) => {
      const res = await fetch(`${world.url('api')}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await world.token(userId)}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    /** The seq of the newest bid of `itemId` in the stream (0: none). */
    const storedSeq = async (itemId: string) => {
      const nc = await world.natsClient();
      try {
        const jsm = await nc.jetstreamManager();
        const m = await jsm.streams
          .getMessage('GAVEL', {
            last_by_subj: subjects({ stream: 'GAVEL', prefix: 'gavel' }).bidAccepted(itemId),
          })
          .catch(() => null);
        const decoded = m ? decodeEvent(m.data) : null;
        return decoded?.ok && decoded.event.type === 'bid.accepted' ? decoded.event.seq : 0;
      } finally {
        await nc.close();
      }
    };

    it('a bid stored during the cut reaches a watcher with no later bid to reveal it', async () => {
      const itemId = `resync_${Date.now().toString(36)}`;
      const created = await post(
        '/api/v1/items',
        {
          id: itemId,
          title: 'Resync',
          startingPrice: '1.00',
          minIncrement: '0.01',
          endsAt: Date.now() + 3_600_000,
        },
        'seller',
      );
      expect(created.status).toBe(201);
      const socket = io(world.url('broadcast'), {
        path: '/socket.io',
        transports: ['websocket'],
        auth: { token: await world.token('resync_watcher') },
        forceNew: true,
      });
      sockets.push(socket);
      const seqs: number[] = [];
      socket.on('bid', (b: { itemId: string; seq: number }) => {
        if (b.itemId === itemId) seqs.push(b.seq);
      });
      await waitFor(() => socket.connected, { timeoutMs: 60_000, what: 'the watcher to connect' });
      expect(await socket.timeout(15_000).emitWithAck('item:watch', { itemId })).toMatchObject({ ok: true });

      expect((await post(`/api/v1/items/${itemId}/bid`, { amount: '2.00' }, 'bidder')).status).toBe(201);
      await waitFor(() => seqs.length === 1, { timeoutMs: 30_000, what: 'the first bid live' });

      const link = world.link('broadcast->nats');
      link.cut();
      await world.waitReadiness('broadcast', false, 'nats');
      for (const amount of ['3.00', '4.00'])
        expect((await post(`/api/v1/items/${itemId}/bid`, { amount }, 'bidder')).status).toBe(201);
      await waitFor(async () => (await storedSeq(itemId)) === 3, {
        timeoutMs: 60_000,
        what: 'bids 2 and 3 stored',
      });
      link.restore();
      await world.waitReadiness('broadcast', true);

      await waitFor(() => seqs.length >= 3, {
        timeoutMs: 60_000,
        what: `bids 2 and 3 at the watcher (has ${seqs})`,
      });
      expect(seqs).toEqual([1, 2, 3]);
    });
  });
});
