// Redis, PostgreSQL and NATS for `npm start`: each is used where it listens; when one is missing on
// this machine, its local server is started (Debian's packages), else Docker Compose starts it
// from the repository's compose.yaml. Nothing is started for a URL that points elsewhere.
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';

/**
 * @typedef {object} Dependency
 * @property {string} name
 * @property {string} envVar the variable holding its URL
 * @property {number} defaultPort
 * @property {string} binary a local server that can start it
 * @property {(port: number) => [string, string[]]} localStart the command starting that server
 * @property {string} composeService its service in compose.yaml
 * @property {string} composePortVar the compose.yaml variable of its host port
 */

/** @type {Dependency[]} */
export const DEPENDENCIES = [
  {
    name: 'Redis',
    envVar: 'REDIS_URL',
    defaultPort: 6379,
    binary: 'redis-server',
    localStart: (port) => [
      'redis-server',
      [
        '--daemonize',
        'yes',
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--save',
        '',
        '--appendonly',
        'no',
      ],
    ],
    composeService: 'redis',
    composePortVar: 'GAVEL_REDIS_PORT',
  },
  {
    name: 'PostgreSQL',
    envVar: 'DATABASE_URL',
    defaultPort: 5432,
    binary: 'pg_ctlcluster',
    // Debian's cluster `main` listens on 5432; another port is not this machine's cluster.
    localStart: () => [
      'sh',
      ['-c', 'pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start'],
    ],
    composeService: 'postgres',
    composePortVar: 'GAVEL_POSTGRES_PORT',
  },
  {
    name: 'NATS',
    envVar: 'NATS_URL',
    defaultPort: 4222,
    binary: 'nats-server',
    localStart: (port) => [
      'sh',
      ['-c', `nats-server -a 127.0.0.1 -p ${port} -js -sd "\${TMPDIR:-/tmp}/gavel-nats" >/dev/null 2>&1 &`],
    ],
    composeService: 'nats',
    composePortVar: 'GAVEL_NATS_PORT',
  },
];

export function listening(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

function onPath(binary, env) {
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore', env }).status === 0;
}

/** Docker with a running engine and the compose plugin. */
function dockerCompose(env) {
  const ok = (args) => spawnSync('docker', args, { stdio: 'ignore', env }).status === 0;
  return ok(['info']) && ok(['compose', 'version']);
}

/**
 * Makes `dep` listen at `urlText`, or throws saying how to get it.
 * @param {Dependency} dep
 * @param {string} urlText
 * @param {{ log: (line: string) => void, composeFile: string, env?: NodeJS.ProcessEnv, waitMs?: number }} options
 * @returns {Promise<'running' | 'local' | 'compose'>} how it came to listen
 */
export async function ensureDependency(dep, urlText, options) {
  const env = options.env ?? process.env;
  const url = new URL(urlText);
  const host = url.hostname || '127.0.0.1';
  const port = Number(url.port || dep.defaultPort);
  if (await listening(host, port)) return 'running';
  const local = ['127.0.0.1', 'localhost', '[::1]'].includes(host);
  const where = `${host}:${port}`;
  if (!local) throw new Error(`${dep.name} is not reachable at ${where} (${dep.envVar}).`);

  let how;
  if (onPath(dep.binary, env) && (dep.name !== 'PostgreSQL' || port === dep.defaultPort)) {
    options.log(`${dep.name} is not listening on ${where}: starting the local ${dep.binary}`);
    const [command, args] = dep.localStart(port);
    spawnSync(command, args, { stdio: 'inherit', env });
    how = 'local';
  } else if (dockerCompose(env)) {
    options.log(`${dep.name} is not listening on ${where}: starting it with docker compose (compose.yaml)`);
    const result = spawnSync(
      'docker',
      ['compose', '-f', options.composeFile, 'up', '-d', '--wait', dep.composeService],
      { stdio: 'inherit', env: { ...env, [dep.composePortVar]: String(port) } },
    );
    if (result.status !== 0) throw new Error(`docker compose could not start ${dep.name}`);
    how = 'compose';
  } else {
    throw new Error(
      `${dep.name} is not listening on ${where} (${dep.envVar}), and neither its server (${dep.binary}) ` +
        'nor Docker is available. Install Docker (then `npm start` runs compose.yaml itself) or ' +
        'the server (Debian: apt-get install redis-server postgresql nats-server).',
    );
  }
  const deadline = Date.now() + (options.waitMs ?? 30_000);
  while (Date.now() < deadline) {
    if (await listening(host, port)) return how;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${dep.name} did not start listening on ${where}`);
}
