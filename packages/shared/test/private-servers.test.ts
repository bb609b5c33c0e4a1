import { Redis } from 'ioredis';
import { connect } from 'nats';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PrivateNats, PrivatePostgres, PrivateRedis } from '../src/testing.js';

/** The private servers fault tests kill and restart keep what they had acknowledged. */
describe('private servers', { timeout: 180_000 }, () => {
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const stop of stops) await stop();
  });

  it('Redis keeps an acknowledged write across kill -9 (AOF, fsync always)', async () => {
    const server = await PrivateRedis.start();
    stops.push(() => server.stop());
    const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    await client.set('k', 'v');
    const pid = server.pid;
    await server.kill();
    expect(server.running).toBe(false);
    await server.restart();
    expect(server.pid).not.toBe(pid);
    expect(await client.get('k')).toBe('v');
    client.disconnect();
  });

  it('Redis started with durable: false keeps nothing on disk, and a kill -9 loses its writes', async () => {
    const server = await PrivateRedis.start({ durable: false });
    stops.push(() => server.stop());
    const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
    expect(await client.config('GET', 'save')).toEqual(['save', '']);
    await client.set('k', 'v');
    await server.restart();
    expect(await client.get('k')).toBeNull();
    client.disconnect();
  });

  it('NATS keeps a stored JetStream message across kill -9', async () => {
    const server = await PrivateNats.start();
    stops.push(() => server.stop());
    let nc = await connect({ servers: server.url });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'KEEP', subjects: ['keep.>'] });
    await nc.jetstream().publish('keep.one', new TextEncoder().encode('kept'));
    await nc.close();
    await server.kill();
    await server.restart();
    nc = await connect({ servers: server.url });
    const msg = await (await nc.jetstreamManager()).streams.getMessage('KEEP', { seq: 1 });
    expect(new TextDecoder().decode(msg.data)).toBe('kept');
    await nc.close();
  });

  it('PostgreSQL keeps a committed row across an immediate shutdown', async () => {
    const server = await PrivatePostgres.start();
    stops.push(() => server.stop());
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    await client.query('CREATE TABLE t (v text)');
    await client.query(`INSERT INTO t VALUES ('kept')`);
    await client.end();
    await server.kill();
    expect(server.running).toBe(false);
    await server.restart();
    const again = new pg.Client({ connectionString: server.url });
    await again.connect();
    expect((await again.query('SELECT v FROM t')).rows).toEqual([{ v: 'kept' }]);
    await again.end();
  });
});
