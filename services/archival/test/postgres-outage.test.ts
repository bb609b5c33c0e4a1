import { afterEach, describe, expect, it } from 'vitest';
import { makeEvent, runChecks } from '@gavel/shared';
import { TcpRelay, freePort, spawnService } from '@gavel/shared/testing';
import { createSandbox, startWorker, waitFor, type Sandbox } from './helper.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function sandbox(): Promise<Sandbox> {
  const s = await createSandbox();
  cleanups.push(() => s.close());
  return s;
}

const chats = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) =>
    makeEvent('chat.message', { roomId: 'r', userId: 'u', text: `${tag} ${i}`, clientMsgId: `${tag}${i}` }),
  );

async function deadLetterCount(s: Sandbox): Promise<number> {
  const jsm = await s.nc.jetstreamManager();
  return (await jsm.streams.info(`${s.topology.stream}_DLQ`)).state.messages;
}

describe('PostgreSQL outage', { timeout: 120_000 }, () => {
  it('nacks with backoff, dead-letters nothing and stores everything once PostgreSQL is back', async () => {
    const s = await sandbox();
    const pgUrl = new URL(s.db.url);
    // A relay the test can cut, to take PostgreSQL away from this worker only.
    const postgres = { host: pgUrl.hostname, port: Number(pgUrl.port || 5432) };
    const proxy = new TcpRelay(() => postgres);
    await proxy.listen(await freePort());
    cleanups.push(() => proxy.close());
    pgUrl.port = String(proxy.port);
    const w = await startWorker(s, { DATABASE_URL: pgUrl.toString(), MAX_DELIVERIES: '2' });
    cleanups.push(() => w.stop());

    const before = chats(5, 'before');
    for (const e of before) await s.publish(e);
    await waitFor(async () => (await s.count('chat_messages')) === 5, {
      timeoutMs: 20_000,
      what: 'first events',
    });
    expect((await runChecks(w.worker.checks)).ok).toBe(true);

    await proxy.close();
    const during = chats(30, 'during');
    await Promise.all(during.map((e) => s.publish(e)));
    // Every event delivered more often than MAX_DELIVERIES, and still not dead-lettered.
    await waitFor(
      async () =>
        (await w.metric('gavel_archival_messages_nacked_total', { reason: 'postgres_unavailable' })) >=
        30 * 3,
      { timeoutMs: 40_000, what: 'repeated redeliveries during the outage' },
    );
    const readiness = await runChecks(w.worker.checks);
    expect(readiness.ok).toBe(false);
    expect(readiness.checks.postgres?.ok).toBe(false);
    expect(readiness.checks.nats?.ok).toBe(true);
    expect(await w.metric('gavel_archival_dead_lettered_total')).toBe(0);
    expect(await deadLetterCount(s)).toBe(0);

    await proxy.listen();
    await waitFor(async () => (await s.count('chat_messages')) === 35, {
      timeoutMs: 30_000,
      what: 'events stored after the outage',
    });
    await waitFor(async () => (await runChecks(w.worker.checks)).ok, {
      timeoutMs: 10_000,
      what: 'ready again',
    });
    expect(await s.count('chat_messages', `text LIKE 'during %'`)).toBe(30);
    expect(await deadLetterCount(s)).toBe(0);
  });

  it('stays unready with an unusable DATABASE_URL and loses nothing', async () => {
    const s = await sandbox();
    const events = chats(10, 'waiting');
    for (const e of events) await s.publish(e);

    const port = await freePort();
    const missingDb = new URL(s.db.url);
    missingDb.pathname = `/${s.db.name}_missing`;
    const service = await spawnService(
      'services/archival/src/main.ts',
      s.env({ DATABASE_URL: missingDb.toString(), PORT: String(port) }),
      {
        port,
      },
    );
    cleanups.push(() => service.kill('SIGKILL'));
    const closedPort = await freePort();
    const refused = await startWorker(s, {
      DATABASE_URL: `postgres://postgres@127.0.0.1:${closedPort}/gavel`,
      CONSUMER_NAME: 'archival',
    });
    cleanups.push(() => refused.stop());

    await waitFor(
      async () => {
        const res = await fetch(`${service.url}/readyz`);
        const body = (await res.json()) as { checks: Record<string, { ok: boolean }> };
        return res.status === 503 && body.checks.postgres?.ok === false && body.checks.nats?.ok === true;
      },
      { timeoutMs: 10_000, what: 'readiness false' },
    );
    expect((await fetch(`${service.url}/livez`)).status).toBe(200);
    expect((await runChecks(refused.worker.checks)).ok).toBe(false);
    expect(await deadLetterCount(s)).toBe(0);

    await service.kill('SIGTERM');
    await refused.stop();
    const good = await startWorker(s);
    cleanups.push(() => good.stop());
    await waitFor(async () => (await s.count('chat_messages')) === 10, {
      timeoutMs: 20_000,
      what: 'events stored',
    });
    expect(await deadLetterCount(s)).toBe(0);
  });
});
