import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultWorld } from './support/fault-world.js';
import { underTraffic } from './support/scenario.js';

/**
 * NATS, Redis (AOF, fsync always) and PostgreSQL killed and restarted under steady traffic. The
 * services are never restarted: their readiness says what is missing while it is gone and
 * recovers by itself, and afterwards nothing accepted is lost, duplicated or out of order.
 */
describe('a dependency killed and restarted under traffic', { timeout: 600_000 }, () => {
  let world: FaultWorld;
  beforeAll(async () => {
    world = await FaultWorld.start();
  }, 600_000);
  afterAll(async () => {
    await world?.stop();
  });

  /** The services keep their processes: recovery without restarts. */
  const samePids = (before: ReturnType<FaultWorld['pids']>) => expect(world.pids()).toEqual(before);

  it('NATS: bids wait in the outbox, chat is refused as unavailable, everything arrives once', async () => {
    await underTraffic(world, async (traffic) => {
      const pids = world.pids();
      await world.nats.kill();
      await world.waitReadiness('broadcast', false, 'nats');
      await world.waitReadiness('archival', false, 'nats');
      // The api takes bids into its outbox without NATS: ready, and says NATS is missing.
      const health = await world.apiHealth();
      expect(health.state).toBe('degraded');
      expect(health.checks.nats?.ok).toBe(false);
      expect((await world.readiness('api')).status).toBe(200);
      await traffic.flowing({ bids: 10, chats: 0, dms: 0 });
      await world.nats.restart();
      for (const service of ['api', 'broadcast', 'archival'] as const)
        await world.waitReadiness(service, true);
      samePids(pids);
    });
  });

  it('Redis: bids are refused (or unknown and retried) while it is down, none is lost or doubled', async () => {
    await underTraffic(world, async () => {
      const pids = world.pids();
      await world.redis.kill();
      await world.waitReadiness('api', false, 'redis');
      await world.waitReadiness('broadcast', false, 'redis');
      expect((await world.readiness('archival')).status).toBe(200);
      await world.redis.restart();
      for (const service of ['api', 'broadcast'] as const) await world.waitReadiness(service, true);
      samePids(pids);
    });
  });

  it('PostgreSQL: archival waits and catches up, the history routes say unavailable meanwhile', async () => {
    await underTraffic(world, async (traffic) => {
      const pids = world.pids();
      await world.postgres.kill();
      await world.waitReadiness('archival', false, 'postgres');
      const history = await fetch(`${world.url('api')}/api/v1/items/${traffic.items[0]}/bids`, {
        headers: { authorization: `Bearer ${await world.token('reader')}` },
      });
      expect(history.status).toBe(503);
      expect((await world.apiHealth()).checks.postgres?.ok).toBe(false);
      // Bids and chat do not need PostgreSQL: they go on.
      await traffic.flowing({ bids: 20, chats: 2, dms: 1 });
      await world.postgres.restart();
      await world.waitReadiness('archival', true);
      samePids(pids);
    });
  });
});
