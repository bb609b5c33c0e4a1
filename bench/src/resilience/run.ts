/**
 * Seed 004's experiment 3, resilience: bids at a constant rate from a separate load process, a few
 * Socket.IO watchers of the item, and each component killed (-9) in turn and started again — api,
 * broadcast, archival, NATS, Redis, PostgreSQL. For each: accepted bids/s around the kill, the
 * errors clients saw, how long until bids flowed again, until every watcher had caught up, until
 * PostgreSQL had every bid accepted so far. At the end, nothing may be lost: the item's bid count,
 * PostgreSQL's rows and every watcher's bids agree.
 *
 * Redis, NATS and PostgreSQL are the experiment's own (private-servers.ts), never the machine's
 * shared ones. Forked by the bench harness (bench/src/experiments/resilience.ts); alone:
 *   node --conditions=source --import tsx bench/src/resilience/run.ts
 */
import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { io as ioClient, type Socket } from 'socket.io-client';
import { lineChart } from '../report/svg-chart.js';
import type { Bucket, LoadMessage } from './load-protocol.js';
import {
  freeLoopbackPort,
  privateNats,
  privatePostgres,
  privateRedis,
  type PrivateServer,
} from './private-servers.js';

const SERVICES = ['api', 'broadcast', 'archival'] as const;
type Component = (typeof SERVICES)[number] | 'nats' | 'redis' | 'postgres';
const components = (
  process.env.GAVEL_RESILIENCE_COMPONENTS ?? 'api,broadcast,archival,nats,redis,postgres'
).split(',') as Component[];

// The private servers first: the testing helpers read their URLs from the environment at import.
const redis = privateRedis(await freeLoopbackPort());
const nats = privateNats(await freeLoopbackPort());
const postgres = components.includes('postgres') ? privatePostgres(await freeLoopbackPort()) : undefined;
const servers: PrivateServer[] = [redis, nats, ...(postgres ? [postgres] : [])];
await Promise.all(servers.map((s) => s.start()));
// Whatever stops this run (a failure below, Ctrl-C), the private servers and the stack's
// processes must not outlive it: a left PostgreSQL cluster would stay on the machine.
let stopStack: () => Promise<void> = async () => undefined;
let cleaning: Promise<void> | undefined;
const cleanUp = () =>
  (cleaning ??= (async () => {
    await stopStack().catch(() => undefined);
    for (const s of servers) await s.remove().catch(() => undefined);
  })());
const abort = (why: unknown) => {
  process.stderr.write(`resilience: ${why instanceof Error ? (why.stack ?? why.message) : String(why)}\n`);
  void cleanUp().finally(() => process.exit(1));
};
process.once('uncaughtException', abort);
process.once('unhandledRejection', abort);
process.once('SIGINT', () => abort('interrupted'));
process.once('SIGTERM', () => abort('terminated'));
process.env.REDIS_URL = redis.url;
process.env.NATS_URL = nats.url;
if (postgres) process.env.TEST_PG_ADMIN_URL = postgres.url;
const t = await import('@gavel/shared/testing');

const S = t.benchSettings({
  rate: 100,
  connections: 10,
  watchers: 20,
  steadyS: 6,
  downS: 2,
  settleS: 5,
  catchUpS: 45,
});
const progress = t.benchProgress(2 + components.length);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);

function cpuUs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) / 100) * 1e6;
  } catch {
    return 0;
  }
}

const started = Date.now();
const stack = await t.TestStack.start({
  startupMs: 300_000,
  env: {
    api: { AUTH_MODE: 'open', BID_RATE_LIMIT_PER_S: '1000000', EXTEND_WINDOW_S: '0' },
    broadcast: { AUTH_MODE: 'open', EVENT_RATE_PER_S: '1000' },
  },
});
stopStack = () => stack.stop();
const itemId = t.uniqueId('res_item');
const created = await fetch(`${stack.url('api')}/api/v1/items`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({
    id: itemId,
    title: 'resilience',
    startingPrice: '1.00',
    minIncrement: '0.01',
    endsAt: Date.now() + 6 * 3600_000,
  }),
});
if (created.status !== 201)
  throw new Error(`creating the item: HTTP ${created.status} ${await created.text()}`);
progress.step('stack up');

/** Watchers: resume with afterSeq on every reconnect, so that a restart costs them nothing. */
interface Watcher {
  socket: Socket;
  seqs: Set<number>;
  maxSeq: number;
  duplicates: number;
}
const watchers: Watcher[] = Array.from({ length: S.watchers }, (_, i) => {
  const w: Watcher = {
    seqs: new Set(),
    maxSeq: 0,
    duplicates: 0,
    socket: ioClient(stack.url('broadcast'), {
      transports: ['websocket'],
      auth: { userId: `watcher${i}` },
      reconnectionDelay: 200,
      reconnectionDelayMax: 1000,
      forceNew: true,
    }),
  };
  w.socket.on(
    'connect',
    () => void w.socket.emit('item:watch', { itemId, afterSeq: w.maxSeq }, () => undefined),
  );
  w.socket.on('bid', (b: { itemId: string; seq: number }) => {
    if (b.itemId !== itemId) return;
    if (w.seqs.has(b.seq)) w.duplicates++;
    w.seqs.add(b.seq);
    w.maxSeq = Math.max(w.maxSeq, b.seq);
  });
  return w;
});

/**
 * What Kubernetes does for a pod whose process exits: start it again. A service that exits on its
 * own (the archival worker stops when PostgreSQL goes away) is restarted, and the restart counted.
 */
const restartsBySupervisor: Array<{ service: string; atS: number }> = [];
const intentionallyDown = new Set<string>();
let supervising = true;
const alive = (service: (typeof SERVICES)[number]) => {
  try {
    stack.process(service);
    return true;
  } catch {
    return false;
  }
};
const supervisor = (async () => {
  while (supervising) {
    for (const service of SERVICES) {
      if (!supervising || intentionallyDown.has(service) || alive(service)) continue;
      restartsBySupervisor.push({ service, atS: (Date.now() - started) / 1000 });
      log(`${service} exited by itself: restarting it`);
      await stack
        .spawn(service, service === 'archival' ? { readyPath: '/readyz' } : {})
        .catch((err: unknown) => log(`restart of ${service} failed: ${String(err)}`));
    }
    await sleep(500);
  }
})();

const buckets: Bucket[] = [];
const load = fork(fileURLToPath(new URL('./load-process.ts', import.meta.url)), [], {
  execArgv: ['--conditions=source', '--import', 'tsx'],
  stdio: 'inherit',
});
let stopped: (accepted: number) => void = () => undefined;
load.on('message', (m: LoadMessage) => {
  if (m.type === 'buckets') buckets.push(...m.buckets);
  if (m.type === 'stopped') stopped(m.accepted);
});
await new Promise<void>((r) => load.once('message', () => r()));

const db = () => new pg.Client({ connectionString: stack.database.url, connectionTimeoutMillis: 2000 });
async function archived(): Promise<number> {
  const c = db();
  try {
    await c.connect();
    const r = await c.query<{ n: string }>('SELECT count(*) AS n FROM bids WHERE item_id = $1', [itemId]);
    return Number(r.rows[0]?.n ?? 0);
  } catch {
    return -1;
  } finally {
    await c.end().catch(() => undefined);
  }
}
async function bidCount(): Promise<number> {
  try {
    const r = await fetch(`${stack.url('api')}/api/v1/items/${itemId}`, {
      signal: AbortSignal.timeout(3000),
    });
    return r.ok ? ((await r.json()) as { bidCount: number }).bidCount : -1;
  } catch {
    return -1;
  }
}
async function until(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<number | null> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await check()) return Date.now();
    await sleep(200);
  }
  return null;
}

load.send({ type: 'start', url: stack.url('api'), itemId, rate: S.rate, connections: S.connections });
await sleep(S.steadyS * 1000);
const apiPids = new Set<number>();
const trackApi = () => {
  const pid = stack.process('api').child.pid;
  if (pid) apiPids.add(pid);
};
trackApi();
const apiCpuSeen = new Map<number, number>();
const sampleApiCpu = () => {
  for (const pid of apiPids) {
    const v = cpuUs(pid);
    if (v > 0) apiCpuSeen.set(pid, v);
  }
};
// The steady phase's api CPU per accepted bid is the baseline.
const steadyCpu0 = cpuUs(stack.process('api').child.pid);
const steadyFrom = Date.now();
await sleep(S.steadyS * 1000);
const steadyCpu = cpuUs(stack.process('api').child.pid) - steadyCpu0;
const steadyTo = Date.now();
const acceptedIn = (from: number, to: number) =>
  buckets.filter((b) => b.at >= from && b.at < to).reduce((a, b) => a + b.accepted, 0);
const steadyAccepted = acceptedIn(steadyFrom, steadyTo - 1000);
const steadyRate = steadyAccepted / ((steadyTo - 1000 - steadyFrom) / 1000);
log(`steady: ${steadyRate.toFixed(0)} accepted bids/s`);
progress.step('steady');

interface Outage {
  component: Component;
  killedAtS: number;
  downS: number;
  /** Accepted bids/s in the 3 s before the kill, and the lowest quarter second after it (× 4). */
  ratePerSBefore: number;
  lowestRatePerS: number;
  /** Answers other than 201/409, and requests without an answer, from the kill to recovery + settle. */
  errors: number;
  refusedByStatus: Record<string, number>;
  /** From the kill until bids flow at ≥ 80% of the steady rate again (0: never dipped). */
  bidPathRecoveryS: number | null;
  /** From the kill until every watcher has every bid accepted before the restart. */
  watchersCaughtUpS: number | null;
  /** From the kill until PostgreSQL holds every bid accepted before the restart. */
  archiveCaughtUpS: number | null;
}
const outages: Outage[] = [];
const server = (c: Component) => ({ nats, redis, postgres })[c as 'nats'];

for (const component of components) {
  const before = Date.now();
  if ((SERVICES as readonly string[]).includes(component)) {
    if (component === 'api') sampleApiCpu();
    intentionallyDown.add(component);
    await stack.process(component as (typeof SERVICES)[number]).kill('SIGKILL');
  } else await server(component)!.kill();
  const killedAt = Date.now();
  log(`killed ${component}`);
  await sleep(S.downS * 1000);
  if ((SERVICES as readonly string[]).includes(component)) {
    await stack.spawn(
      component as (typeof SERVICES)[number],
      component === 'archival' ? { readyPath: '/readyz' } : {},
    );
    intentionallyDown.delete(component);
    if (component === 'api') trackApi();
  } else await server(component)!.start();
  const upAt = Date.now();
  log(`restarted ${component} after ${((upAt - killedAt) / 1000).toFixed(1)} s`);
  // Every bid accepted until now must reach the watchers and PostgreSQL.
  const target = await until(async () => (await bidCount()) >= 0, S.catchUpS * 1000).then(() => bidCount());
  const [watchersAt, archiveAt] = await Promise.all([
    until(() => watchers.every((w) => w.maxSeq >= target), S.catchUpS * 1000),
    until(async () => (await archived()) >= target, S.catchUpS * 1000),
  ]);
  await sleep(S.settleS * 1000);
  const threshold = (0.8 * steadyRate) / 4;
  const after = buckets.filter((b) => b.at >= killedAt - 250);
  const dipped = after.findIndex((b) => b.accepted < threshold);
  let recovery: number | null = 0;
  if (dipped >= 0 && after[dipped]!.at < upAt + 1000) {
    const back = after.findIndex(
      (b, i) => i > dipped && b.accepted >= threshold && (after[i + 1]?.accepted ?? 0) >= threshold,
    );
    recovery = back >= 0 ? (after[back]!.at - killedAt) / 1000 : null;
  }
  const window = buckets.filter((b) => b.at >= killedAt && b.at < Date.now());
  const refused: Record<string, number> = {};
  for (const b of window)
    for (const [k, v] of Object.entries(b.refused)) if (k !== '409') refused[k] = (refused[k] ?? 0) + v;
  const errors = window.reduce((a, b) => a + b.errors, 0) + Object.values(refused).reduce((a, v) => a + v, 0);
  const outage: Outage = {
    component,
    killedAtS: (killedAt - started) / 1000,
    downS: (upAt - killedAt) / 1000,
    ratePerSBefore: acceptedIn(before - 3000, before) / 3,
    lowestRatePerS: Math.min(...window.slice(0, Math.max(1, window.length - 4)).map((b) => b.accepted)) * 4,
    errors,
    refusedByStatus: refused,
    bidPathRecoveryS: recovery,
    watchersCaughtUpS: watchersAt === null ? null : (watchersAt - killedAt) / 1000,
    archiveCaughtUpS: archiveAt === null ? null : (archiveAt - killedAt) / 1000,
  };
  outages.push(outage);
  log(`${component}: ${JSON.stringify(outage)}`);
  progress.step(component);
}

const totalAccepted = await new Promise<number>((resolve) => {
  stopped = resolve;
  load.send({ type: 'stop' });
});
const endedAt = Date.now();
sampleApiCpu();
load.disconnect();
// Nothing lost: the item's count, PostgreSQL and every watcher agree once the tail has drained.
let final = { bidCount: await bidCount(), archived: 0, watchersMin: 0 };
await until(async () => {
  final = {
    bidCount: await bidCount(),
    archived: await archived(),
    watchersMin: Math.min(...watchers.map((w) => w.seqs.size)),
  };
  return final.bidCount > 0 && final.archived === final.bidCount && final.watchersMin === final.bidCount;
}, 60_000);
if (final.archived !== final.bidCount) {
  // What the worker said is the first thing to read when PostgreSQL did not catch up.
  log(
    `archival output (last lines):\n${stack.process('archival').output().split('\n').slice(-30).join('\n')}`,
  );
}
supervising = false;
await supervisor;
const duplicates = watchers.reduce((a, w) => a + w.duplicates, 0);
for (const w of watchers) w.socket.close();
const apiCpuTotal = [...apiCpuSeen.values()].reduce((a, v) => a + v, 0);
await cleanUp();

const report = {
  date: new Date(started).toISOString(),
  settings: { ...S, components },
  steady: { acceptedPerS: steadyRate, apiCpuUsPerAccepted: steadyCpu / Math.max(1, steadyAccepted) },
  wholeRun: {
    seconds: (endedAt - started) / 1000,
    acceptedByClients: totalAccepted,
    apiCpuUsPerAccepted: apiCpuTotal / Math.max(1, totalAccepted),
  },
  outages,
  restartsBySupervisor,
  final: {
    ...final,
    lost: final.bidCount - final.archived,
    missingAtSlowestWatcher: final.bidCount - final.watchersMin,
    duplicates,
  },
  timeline: buckets.map((b) => ({
    s: (b.at - started) / 1000,
    accepted: b.accepted,
    errors:
      b.errors +
      Object.entries(b.refused)
        .filter(([k]) => k !== '409')
        .reduce((a, [, v]) => a + v, 0),
  })),
};
const outDir = t.benchResultsDir(t.REPO_ROOT);
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'resilience.json'), `${JSON.stringify(report, null, 2)}\n`);
// Per second, for the plot.
const perSecond = new Map<number, { accepted: number; errors: number }>();
for (const p of report.timeline) {
  const k = Math.floor(p.s);
  const v = perSecond.get(k) ?? { accepted: 0, errors: 0 };
  v.accepted += p.accepted;
  v.errors += p.errors;
  perSecond.set(k, v);
}
const seconds = [...perSecond.keys()].sort((a, b) => a - b);
writeFileSync(
  join(outDir, 'resilience.svg'),
  lineChart({
    title: 'Bids while each component is killed (-9) in turn',
    subtitle: `${S.rate} bids/s offered; dashed: kills (${components.join(', ')})`,
    xLabel: 'seconds since the stack started',
    yLabel: 'per second',
    series: [
      { label: 'accepted bids/s', points: seconds.map((s) => ({ x: s, y: perSecond.get(s)!.accepted })) },
      {
        label: 'errors/s (no answer, 429, 5xx)',
        points: seconds.map((s) => ({ x: s, y: perSecond.get(s)!.errors })),
      },
    ],
    markers: outages.map((o) => ({ x: Math.floor(o.killedAtS), label: o.component })),
    sparseTicks: true,
  }),
);
process.exit(0);
