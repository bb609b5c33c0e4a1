import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, waitFor, type TestDatabase } from '@gavel/shared/testing';
import {
  RedisProbe,
  bid,
  cleanupNames,
  createItem,
  http,
  startApi,
  testNames,
  type TestApi,
} from './helpers.js';

describe('ops routes and the web page', () => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  let db: TestDatabase;
  let dir: string;
  let api: TestApi;
  let bare: TestApi;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'gavel-public-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>Gavel</title>');
    api = await startApi(names, { DATABASE_URL: db.url, OUTBOX_RELAY: 'true', PUBLIC_DIR: dir });
    bare = await startApi(names, { PUBLIC_DIR: join(dir, 'missing') });
  });
  afterAll(async () => {
    await api?.close();
    await bare?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
    await cleanupNames(names, probe);
  });

  it('summarises redis, nats and postgres on /health (seed 004)', async () => {
    const health = await waitFor(
      async () => {
        const res = await http(api.url, 'GET', '/health');
        return res.body.status === 'ok' ? res : null;
      },
      { what: 'all dependencies healthy' },
    );
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      strategy: 'lua',
      checks: { redis: { ok: true }, nats: { ok: true }, postgres: { ok: true } },
    });
    expect((await http(api.url, 'GET', '/livez')).status).toBe(200);
    expect((await http(api.url, 'GET', '/readyz')).status).toBe(200);
  });

  it('counts bids by outcome and strategy, and exports latency, outbox depth and relay counters', async () => {
    const item = await createItem(api.url);
    await bid(api.url, item, 'a', 20);
    await bid(api.url, item, 'b', 1);
    await waitFor(async () => (await probe.redis.xlen(probe.outboxKey)) === 0, { what: 'relay' });
    const text = await (await fetch(`${api.url}/metrics`)).text();
    const sample = (name: string, ...labels: string[]) => {
      const line = text
        .split('\n')
        .find((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)));
      return line === undefined ? undefined : Number(line.split(' ').pop());
    };
    expect(sample('gavel_bids_total', 'outcome="accepted"', 'strategy="lua"')).toBe(1);
    expect(sample('gavel_bids_total', 'outcome="too_low"', 'strategy="lua"')).toBe(1);
    expect(sample('gavel_bid_duration_seconds_count', 'strategy="lua"')).toBe(2);
    expect(sample('gavel_outbox_entries')).toBe(0);
    // item.opened and the accepted bid.
    expect(sample('gavel_outbox_published_total', 'result="ok"')).toBe(2);
  });

  it('serves the web page from the public directory when it exists', async () => {
    const page = await fetch(`${api.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('<title>Gavel</title>');
    const missing = await http(api.url, 'GET', '/nope.js');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe('not_found');
    expect((await http(bare.url, 'GET', '/')).status).toBe(404);
  });
});
