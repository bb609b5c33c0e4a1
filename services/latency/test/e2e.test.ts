import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestStack, type ServiceProcess } from '@gavel/shared/testing';
import { runCli } from './support/run-cli.js';

/**
 * The e2e mode against the real api, broadcast and archival processes (with Redis, NATS JetStream
 * and PostgreSQL), isolated by their own key prefix, stream and database.
 */
describe('gavel-latency e2e against the api and broadcast', () => {
  let stack: TestStack;
  let api: ServiceProcess;
  let broadcast: ServiceProcess;
  let out: string;

  beforeAll(async () => {
    stack = await TestStack.start();
    api = stack.process('api');
    broadcast = stack.process('broadcast');
    out = await mkdtemp(join(tmpdir(), 'gavel-e2e-'));
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await rm(out, { recursive: true, force: true });
  }, 60_000);

  it(
    'times every accepted bid at every watcher, from the intended send and from the 201',
    { timeout: 90_000 },
    async () => {
      const result = await runCli([
        'e2e',
        '--api',
        api.url,
        '--broadcast',
        broadcast.url,
        '--watchers',
        '3',
        '--bidders',
        '2',
        '--rate',
        '5',
        '--warmup',
        '1',
        '--duration',
        '3',
        '--json',
        '--out',
        out,
        '--drain-timeout',
        '10000',
      ]);
      expect(result.stderr).not.toMatch(/gavel-latency: error/);
      expect(
        result.code,
        `${result.stderr}\n--- api ---\n${api.output()}\n--- broadcast ---\n${broadcast.output()}`,
      ).toBe(0);
      const summary = JSON.parse(result.stdout);
      expect(summary.mode).toBe('e2e');
      expect(summary.bids.scheduled).toBe(20);
      expect(summary.bids.failed).toBe(0);
      expect(summary.bids.accepted + summary.bids.rejected).toBe(20);
      expect(summary.bids.accepted).toBeGreaterThan(10);
      // Every accepted bid of the measured window reached every one of the 3 watchers, once.
      expect(summary.events.expected).toBeGreaterThan(0);
      expect(summary.events.expected % 3).toBe(0);
      expect(summary.events.received).toBe(summary.events.expected);
      expect(summary.events.lost).toBe(0);
      expect(summary.events.duplicates).toBe(0);
      const [bidToScreen, acceptedToScreen, bidResponse] = summary.targets;
      expect(bidToScreen.latencyMs.count).toBe(summary.events.received);
      expect(acceptedToScreen.latencyMs.count).toBe(summary.events.received);
      expect(bidResponse.latencyMs.count).toBe(summary.events.expected / 3);
      // Measured from the intended send, the screen can only be later than the 201's path alone.
      expect(bidToScreen.latencyMs.max).toBeGreaterThanOrEqual(acceptedToScreen.latencyMs.max);

      // The bids really are in the auction.
      const item = (await (await fetch(`${api.url}/api/v1/items/${summary.itemId}`)).json()) as {
        bidCount: number;
      };
      expect(item.bidCount).toBe(summary.bids.accepted);

      expect((await readdir(out)).sort()).toEqual([
        'e2e-201-received-bid-event.hgrm',
        'e2e-bid-sent-201-intended.hgrm',
        'e2e-bid-sent-bid-event-intended.hgrm',
        'e2e.json',
        'e2e.svg',
      ]);
    },
  );
});
