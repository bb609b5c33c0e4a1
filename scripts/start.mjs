#!/usr/bin/env node
// `npm start`: the whole stack on this machine. Checks (and where it can, starts) Redis,
// PostgreSQL and NATS, creates the `gavel` database, builds what is stale, then runs every
// service with prefixed logs. Ctrl-C stops them all.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import concurrently from 'concurrently';
import pg from 'pg';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// Local defaults of SPEC.md; every variable already set in the environment wins.
const env = {
  AUTH_MODE: 'jwt',
  DEV_TOKENS: 'true',
  AUTO_OPEN_ITEMS: 'true',
  REDIS_URL: 'redis://127.0.0.1:6379',
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/gavel',
  NATS_URL: 'nats://127.0.0.1:4222',
  ...process.env,
};
if (!env.AUTH_SECRET) {
  env.AUTH_SECRET = randomBytes(32).toString('base64url');
  console.log('[start] AUTH_SECRET is not set: using a random one for this run (tokens die with it).');
}

/** Services in start order; a service runs if its workspace has an entry point. */
const services = [
  { name: 'archival', dir: 'services/archival', color: 'yellow' },
  { name: 'api', dir: 'services/api', color: 'green' },
  { name: 'broadcast', dir: 'services/broadcast', color: 'cyan' },
  { name: 'latency', dir: 'services/latency', color: 'magenta' },
].filter((s) => existsSync(join(root, s.dir, 'src/main.ts')));

const dependencies = [
  {
    name: 'Redis',
    url: env.REDIS_URL,
    defaultPort: 6379,
    binary: 'redis-server',
    start: [
      'redis-server',
      ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', '6379', '--save', '', '--appendonly', 'no'],
    ],
  },
  {
    name: 'PostgreSQL',
    url: env.DATABASE_URL,
    defaultPort: 5432,
    binary: 'pg_ctlcluster',
    start: [
      'sh',
      ['-c', 'pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start'],
    ],
  },
  {
    name: 'NATS',
    url: env.NATS_URL,
    defaultPort: 4222,
    binary: 'nats-server',
    start: [
      'sh',
      ['-c', 'nats-server -a 127.0.0.1 -p 4222 -js -sd "${TMPDIR:-/tmp}/gavel-nats" >/dev/null 2>&1 &'],
    ],
  },
];

function listening(host, port) {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

function onPath(binary) {
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0;
}

async function ensureDependency(dep) {
  const url = new URL(dep.url);
  const host = url.hostname || '127.0.0.1';
  const port = Number(url.port || dep.defaultPort);
  if (await listening(host, port)) return;
  const local = host === '127.0.0.1' || host === 'localhost';
  if (!local || !onPath(dep.binary)) {
    throw new Error(
      `${dep.name} is not listening on ${host}:${port}. Start it, or run \`docker compose up -d\` ` +
        `(compose.yaml), or install it (Debian: apt-get install redis-server postgresql nats-server).`,
    );
  }
  console.log(`[start] ${dep.name} is not listening on ${host}:${port}: starting the local ${dep.binary}`);
  spawnSync(dep.start[0], dep.start[1], { stdio: 'inherit' });
  for (let i = 0; i < 50; i++) {
    if (await listening(host, port)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${dep.name} did not start listening on ${host}:${port}`);
}

async function ensureDatabase() {
  const url = new URL(env.DATABASE_URL);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`DATABASE_URL names an unusual database: ${name}`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE "${name}"`);
      console.log(`[start] created database ${name}`);
    }
  } finally {
    await client.end();
  }
}

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** A workspace is stale when a source file is newer than its build output. */
function stale(dir) {
  const dist = join(root, dir, 'dist');
  if (!existsSync(dist)) return true;
  return newestMtime(join(root, dir, 'src')) > newestMtime(dist);
}

async function main() {
  for (const dep of dependencies) await ensureDependency(dep);
  await ensureDatabase();

  const workspaces = ['packages/shared', ...services.map((s) => s.dir)];
  const toBuild = workspaces.filter(stale);
  if (toBuild.length > 0) {
    console.log(`[start] building ${toBuild.join(', ')}`);
    // Shared first: the services compile against its declarations.
    for (const dir of toBuild)
      execFileSync('npm', ['run', 'build', '-w', dir], { cwd: root, stdio: 'inherit' });
  }

  const { result } = concurrently(
    services.map((s) => ({
      name: s.name,
      prefixColor: s.color,
      command: 'node dist/main.js',
      cwd: join(root, s.dir),
      env,
    })),
    { prefix: 'name', killOthersOn: ['failure'], restartTries: 0, handleInput: false },
  );
  console.log(
    `[start] ${services.map((s) => s.name).join(', ')} starting. ` +
      'Open http://127.0.0.1:8080/ for the auction page; Ctrl-C stops everything.',
  );
  await result.catch(() => process.exit(1));
}

main().catch((err) => {
  console.error(`[start] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
