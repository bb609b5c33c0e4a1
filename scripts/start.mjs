#!/usr/bin/env node
// `npm start`: the whole stack on this machine. Makes sure Redis, PostgreSQL and NATS listen
// (starting the local servers or docker compose), creates the database, builds what is stale,
// then supervises every service (restarted with backoff if it exits) and says "ready" with the
// URLs once every /readyz answers. Ctrl-C stops everything; a second Ctrl-C kills.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, styleText } from 'node:util';
import pg from 'pg';
import { buildStale } from './dev-stack/build.mjs';
import { seedDemo } from './dev-stack/demo-data.mjs';
import { DEPENDENCIES, ensureDependency } from './dev-stack/dependencies.mjs';
import { waitUntilReady } from './dev-stack/readiness.mjs';
import { Supervisor } from './dev-stack/supervisor.mjs';
import { WeightedProxy } from './dev-stack/weighted-proxy.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (line) => console.log(`${styleText('bold', '[start]')} ${line}`);

const { values: flags } = parseArgs({
  options: {
    demo: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  console.log(`npm start [-- --demo]

Runs the whole Gavel stack locally. --demo seeds a few auctions with bids and chat.
Ports: API_PORT (8080), BROADCAST_PORT (8081: the blue/green proxy), ARCHIVAL_PORT (8082),
BROADCAST_BLUE_PORT (8083), BROADCAST_GREEN_PORT (8084), LATENCY_PORT (8090).
Every service variable set in the environment wins over the local defaults.`);
  process.exit(0);
}

// The local defaults; every variable already set in the environment wins.
const env = {
  AUTH_MODE: 'jwt',
  DEV_TOKENS: 'true',
  AUTO_OPEN_ITEMS: 'true',
  // One person (and the demos) signing in as many users from one address.
  DEV_TOKEN_RATE_LIMIT_PER_MIN: '1000',
  // Every local client (the page, the CLI, the demos) connects from the loopback address.
  MAX_CONNECTIONS_PER_ADDRESS: '10000',
  REDIS_URL: 'redis://127.0.0.1:6379',
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/gavel',
  NATS_URL: 'nats://127.0.0.1:4222',
  // A person at a terminal reads pretty lines; piped output stays JSON for tools.
  LOG_FORMAT: process.stdout.isTTY ? 'pretty' : 'json',
  ...process.env,
};
if (env.AUTH_MODE === 'jwt' && !env.AUTH_SECRET) {
  env.AUTH_SECRET = randomBytes(32).toString('base64url');
  say('AUTH_SECRET is not set: using a random one for this run (tokens die with it).');
}

/**
 * Services in start order; a service runs if its workspace has an entry point. Broadcast runs in
 * both colours, as in the cluster, behind the local weighted proxy on BROADCAST_PORT.
 */
const services = [
  { name: 'archival', dir: 'services/archival', color: 'yellow', portVar: 'ARCHIVAL_PORT', port: 8082 },
  { name: 'api', dir: 'services/api', color: 'green', portVar: 'API_PORT', port: 8080 },
  ...['blue', 'green'].map((colour, i) => ({
    name: `broadcast-${colour}`,
    dir: 'services/broadcast',
    color: colour === 'blue' ? 'blueBright' : 'greenBright',
    portVar: `BROADCAST_${colour.toUpperCase()}_PORT`,
    port: 8083 + i,
    env: { BROADCAST_COLOR: colour, REPLICA_ID: `local-${colour}` },
  })),
  { name: 'latency', dir: 'services/latency', color: 'magenta', portVar: 'LATENCY_PORT', port: 8090 },
]
  .filter((s) => existsSync(join(root, s.dir, 'src/main.ts')))
  .map((s) => ({ ...s, port: portFrom(s.portVar, s.port) }));
const proxyPort = portFrom('BROADCAST_PORT', 8081);

/** A port variable, checked as the services check theirs: a bad one stops the start, named. */
function portFrom(variable, fallback) {
  const value = env[variable];
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
    console.error(
      `[start] ${variable}: must be a port number from 1 to 65535 (got ${JSON.stringify(value)})`,
    );
    process.exit(2);
  }
  return port;
}
const urlOf = (name) =>
  `http://127.0.0.1:${name === 'broadcast' ? proxyPort : services.find((s) => s.name === name)?.port}`;

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
      say(`created database ${name}`);
    }
  } finally {
    await client.end();
  }
}

async function readyLine(seconds) {
  const docs = await fetch(`${urlOf('api')}/docs`).then(
    (r) => r.ok,
    () => false,
  );
  const rows = [
    ['page', `${urlOf('api')}/`],
    ...(docs ? [['API docs', `${urlOf('api')}/docs`]] : []),
    [
      'broadcast',
      `${urlOf('broadcast')}/socket.io  ·  ${urlOf('broadcast').replace('http', 'ws')}/ws?token=…`,
    ],
    [
      'blue/green',
      `${urlOf('broadcast-blue')} and ${urlOf('broadcast-green')} behind it; ` +
        '`npm run weights -- --green 50` moves the split live',
    ],
    ['latency echo', `${urlOf('latency').replace('http', 'ws')}/echo`],
    ['metrics', services.map((s) => `${urlOf(s.name)}/metrics`).join('  ')],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return [
    styleText(['bold', 'green'], `ready in ${seconds.toFixed(1)} s`) +
      (env.AUTH_MODE === 'jwt'
        ? ' (sign in on the page as any name: dev tokens are on)'
        : ' (AUTH_MODE=open)'),
    ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`),
    '  Ctrl-C stops everything.',
  ].join('\n');
}

async function main() {
  const started = Date.now();
  for (const dep of DEPENDENCIES) {
    await ensureDependency(dep, env[dep.envVar], { log: say, composeFile: join(root, 'compose.yaml'), env });
  }
  await ensureDatabase();
  buildStale(root, ['packages/shared', ...new Set(services.map((s) => s.dir))], say);

  const supervisor = new Supervisor();
  supervisor.start(
    services.map((s) => ({
      name: s.name,
      color: s.color,
      command: process.execPath,
      // As in the image: the tracing bootstrap first (a no-op unless OTEL_* asks for traces).
      args: ['--import', '@gavel/shared/telemetry', 'dist/main.js'],
      cwd: join(root, s.dir),
      env: { ...env, ...s.env, PORT: String(s.port) },
    })),
  );
  const proxy = new WeightedProxy({
    blue: urlOf('broadcast-blue'),
    green: urlOf('broadcast-green'),
    weightsFile: join(root, 'charts-ts/weights.json'),
    log: (line) => console.log(`${styleText('bold', '[proxy]')} ${line}`),
    drain: (colour) => supervisor.signal(`broadcast-${colour}`, 'SIGTERM'),
  });
  await proxy.listen(proxyPort);
  say(`starting ${services.map((s) => s.name).join(', ')}`);

  const stopping = new AbortController();
  const stop = () => {
    if (!stopping.signal.aborted) say('stopping (Ctrl-C again to kill)');
    stopping.abort();
    void supervisor
      .stop()
      .then(() => proxy.close())
      .then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  try {
    await waitUntilReady(
      [
        ...services.map((s) => ({ name: s.name, url: urlOf(s.name) })),
        { name: 'proxy', url: urlOf('broadcast') },
      ],
      { signal: stopping.signal },
    );
  } catch (err) {
    if (stopping.signal.aborted) return;
    say(`${err instanceof Error ? err.message : String(err)}; still trying (the logs above say why)`);
    return;
  }
  say(await readyLine((Date.now() - started) / 1000));
  if (flags.demo) {
    await seedDemo({
      apiUrl: urlOf('api'),
      broadcastUrl: urlOf('broadcast'),
      authMode: env.AUTH_MODE,
      log: say,
    }).catch((err) => say(`demo data failed: ${err instanceof Error ? err.message : String(err)}`));
  }
}

main().catch((err) => {
  console.error(`[start] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
