/**
 * `npm run bench:locust -w @gavel/bench` — runs bench/locust/locustfile.py once (headless, bounded)
 * against an api of its own in open mode, and writes docs/results/locust-contention.md with the
 * exact command, Locust's summary and the api's CPU per answer.
 *
 * Needs Locust on the PATH (Debian: `apt-get install python3-locust`).
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  REPO_ROOT,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  deleteRedisKeys,
  dropTopology,
  freePort,
  spawnService,
  testTopology,
  uniqueId,
} from '@gavel/shared/testing';
import { describeMachine, finishMachine } from './machine.js';
import { table } from './report/markdown.js';

const users = Number(process.env.LOCUST_USERS ?? 100);
const seconds = Number(process.env.LOCUST_SECONDS ?? 30);
const strategy = process.env.BID_STRATEGY === 'optimistic' ? 'optimistic' : 'lua';
const outDir = join(REPO_ROOT, process.env.GAVEL_BENCH_RESULTS_DIR || 'docs/results');
const machine = describeMachine(process.env.BENCH_MACHINE_NOTE ?? 'not stated (set BENCH_MACHINE_NOTE)');

async function cpuMicros(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) / 100) * 1e6;
}

const topology = testTopology();
const prefix = `${uniqueId('locust')}:`;
const port = await freePort();
// Open mode (seed 004's `user_id` in the body), items opened by their first bid, and a per-user
// limit above what one Locust user sends (10 bids/s by default).
const apiEnv = {
  AUTH_MODE: 'open',
  AUTO_OPEN_ITEMS: 'true',
  BID_RATE_LIMIT_PER_S: '1000',
  BID_STRATEGY: strategy,
  REDIS_URL: TEST_REDIS_URL,
  NATS_URL: TEST_NATS_URL,
  REDIS_PREFIX: prefix,
  NATS_STREAM: topology.stream,
  EVENT_PREFIX: topology.prefix,
  HOST: '127.0.0.1',
  PORT: String(port),
  LOG_LEVEL: 'warn',
};
const api = await spawnService('services/api/src/main.ts', apiEnv, { port, timeoutMs: 120_000 });
const item = uniqueId('contended');
const csv = join(outDir, 'locust');
const args = [
  '-f',
  'bench/locust/locustfile.py',
  '--headless',
  '-u',
  String(users),
  '-r',
  String(Math.max(1, Math.round(users / 5))),
  '-t',
  `${seconds}s`,
  'ContendedItemBidder',
  '--host',
  api.url,
  '--csv',
  csv,
  '--only-summary',
];
await mkdir(outDir, { recursive: true });
let cpu = 0;
try {
  const cpu0 = await cpuMicros(api.child.pid!);
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn('locust', args, {
      cwd: REPO_ROOT,
      env: { ...process.env, CONTENDED_ITEM: item, BID_STRATEGY: strategy },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('exit', resolve);
  });
  cpu = (await cpuMicros(api.child.pid!)) - cpu0;
  if (code !== 0) process.stderr.write(`locust exited with ${code} (it exits 1 when any request failed)\n`);
} finally {
  await api.kill('SIGTERM');
  await deleteRedisKeys(prefix).catch(() => undefined);
  await dropTopology(topology).catch(() => undefined);
}
finishMachine(machine);

// Locust's stats CSV: Type,Name,Request Count,Failure Count,Median Response Time,...,50%,...,99%,...
const rows = (await readFile(`${csv}_stats.csv`, 'utf8'))
  .trim()
  .split('\n')
  .map((l) => l.split(','));
const head = rows[0]!;
const col = (name: string) => head.indexOf(name);
const wanted = [
  'Name',
  'Request Count',
  'Failure Count',
  'Requests/s',
  '50%',
  '90%',
  '99%',
  'Max Response Time',
];
const answers = rows.slice(1).find((r) => r[col('Name')] === 'Aggregated');
const total = Number(answers?.[col('Request Count')] ?? 0);
const command = `AUTH_MODE=open AUTO_OPEN_ITEMS=true BID_RATE_LIMIT_PER_S=1000 BID_STRATEGY=${strategy} (api)\nBID_STRATEGY=${strategy} locust ${args.map((a) => (a === api.url ? 'http://127.0.0.1:8080' : a.startsWith(outDir) ? 'locust' : a)).join(' ')}`;
const md = `# Locust: seed 004's ContendedItemBidder

Run ${new Date().toISOString()} by \`npm run bench:locust -w @gavel/bench\` (bench/src/locust.ts): Locust
(${await new Promise<string>((resolve) => {
  // Debian's build of Locust prints no version of its own: ask dpkg.
  const c = spawn('dpkg-query', ['-W', '-f=${Version}', 'python3-locust']);
  let out = '';
  c.stdout.on('data', (d: Buffer) => (out += d.toString()));
  c.once('error', () => resolve('version unknown'));
  c.once('exit', () => resolve(out.trim() ? `python3-locust ${out.trim()}` : 'version unknown'));
})}) with ${users} users for ${seconds} s against one api process (${strategy}) on this machine, every user a
bidder of its own on one item. The commands, with the api's settings:

\`\`\`sh
${command}
\`\`\`

A 409 is a race lost to another bidder (its own row, not a failure); 429 or 5xx would be failures.
Times in ms. Raw CSVs: locust_stats.csv, locust_stats_history.csv, locust_failures.csv.

${table({ columns: wanted, rows: rows.slice(1).map((r) => wanted.map((w) => r[col(w)] ?? '')) })}

api CPU (utime+stime from /proc) over the run: ${(cpu / 1e6).toFixed(1)} s, ${(cpu / Math.max(1, total)).toFixed(0)} µs per answer.
Locust's own CPU (Python, one process) limits the offered load well before the api does on 2 cores; the
harness's contention experiment (autocannon) is the one to read for the api's cost.

Machine: ${machine.cores} vCPU ${machine.cpu}, ${machine.memoryGiB} GiB, Node ${machine.node}, Redis ${machine.redis}; load
average before ${machine.loadAverageBefore.join(' ')}, after ${machine.loadAverageAfter.join(' ')}. What else ran: ${machine.note}.
`;
await writeFile(join(outDir, 'locust-contention.md'), md);
process.stdout.write(md);
