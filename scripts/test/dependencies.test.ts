import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '@gavel/shared/testing';
import { DEPENDENCIES, ensureDependency, listening } from '../dev-stack/dependencies.mjs';

const redis = DEPENDENCIES.find((d) => d.name === 'Redis')!;
// As on a laptop without Debian's servers: the local binary is not there.
const withoutBinary = { ...redis, binary: 'gavel-no-such-redis-server' };

/** A stand-in `docker` on PATH: records its arguments; `compose up` starts a real redis-server. */
function standInDocker(engine: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'gavel-docker-'));
  const calls = join(dir, 'calls');
  writeFileSync(calls, '');
  writeFileSync(
    join(dir, 'docker'),
    `#!/bin/sh
echo "$* GAVEL_REDIS_PORT=\${GAVEL_REDIS_PORT:-}" >> "${calls}"
case "$1" in
  info) exit ${engine ? 0 : 1} ;;
  compose)
    case "$*" in
      *" up "*) exec redis-server --daemonize yes --bind 127.0.0.1 --port "$GAVEL_REDIS_PORT" --save '' --appendonly no --pidfile "${dir}/redis.pid" >/dev/null ;;
    esac
    exit 0 ;;
esac
exit 1
`,
  );
  chmodSync(join(dir, 'docker'), 0o755);
  return { dir, calls: () => readFileSync(calls, 'utf8').trim().split('\n').filter(Boolean) };
}

describe('npm start dependencies', () => {
  const pidFiles: string[] = [];
  afterAll(() => {
    for (const file of pidFiles) {
      try {
        process.kill(Number(readFileSync(file, 'utf8')), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  it('uses a dependency that already listens, starting nothing', async () => {
    const docker = standInDocker(true);
    const log: string[] = [];
    const how = await ensureDependency(redis, 'redis://127.0.0.1:6379', {
      log: (l) => log.push(l),
      composeFile: 'compose.yaml',
      env: { ...process.env, PATH: `${docker.dir}:${process.env.PATH}` },
    });
    expect(how).toBe('running');
    expect(log).toEqual([]);
    expect(docker.calls()).toEqual([]);
  });

  it('starts a missing dependency with docker compose when its server is not installed', async () => {
    const docker = standInDocker(true);
    pidFiles.push(join(docker.dir, 'redis.pid'));
    const port = await freePort();
    const log: string[] = [];
    const how = await ensureDependency(withoutBinary, `redis://127.0.0.1:${port}`, {
      log: (l) => log.push(l),
      composeFile: '/repo/compose.yaml',
      env: { ...process.env, PATH: `${docker.dir}:${process.env.PATH}` },
    });
    expect(how).toBe('compose');
    expect(await listening('127.0.0.1', port)).toBe(true);
    expect(log).toEqual([
      `Redis is not listening on 127.0.0.1:${port}: starting it with docker compose (compose.yaml)`,
    ]);
    expect(docker.calls()).toEqual([
      `info GAVEL_REDIS_PORT=`,
      `compose version GAVEL_REDIS_PORT=`,
      `compose -f /repo/compose.yaml up -d --wait redis GAVEL_REDIS_PORT=${port}`,
    ]);
  });

  it('says what to install when neither the server nor a Docker engine is there', async () => {
    const docker = standInDocker(false);
    const port = await freePort();
    await expect(
      ensureDependency(withoutBinary, `redis://127.0.0.1:${port}`, {
        log: () => undefined,
        composeFile: 'compose.yaml',
        env: { ...process.env, PATH: `${docker.dir}:${process.env.PATH}` },
      }),
    ).rejects.toThrow(/Redis is not listening on 127\.0\.0\.1:\d+ \(REDIS_URL\).*Install Docker/);
    expect(docker.calls()).toEqual([`info GAVEL_REDIS_PORT=`]);
  });

  it('never starts anything for a dependency on another host', async () => {
    await expect(
      ensureDependency(redis, 'redis://redis.invalid:6379', {
        log: () => undefined,
        composeFile: 'compose.yaml',
      }),
    ).rejects.toThrow('Redis is not reachable at redis.invalid:6379 (REDIS_URL).');
  });

  it('compose.yaml maps each host port from the variable the script sets', () => {
    const compose = readFileSync(
      join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'compose.yaml'),
      'utf8',
    );
    for (const dep of DEPENDENCIES) {
      expect(compose).toContain(`\${${dep.composePortVar}:-${dep.defaultPort}}:${dep.defaultPort}`);
      expect(compose).toMatch(new RegExp(`^  ${dep.composeService}:$`, 'm'));
    }
  });
});
