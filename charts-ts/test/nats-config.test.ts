import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIELDS_SINCE_2_10 } from '../src/charts/nats-chart.js';
import { NATS_IMAGE } from '../src/profiles.js';
import { find, PROFILES, synthAll } from './helpers.js';

/**
 * The generated nats.conf, checked by a real nats-server (`-t`: parse and validate, then exit).
 * The image runs 2.10; the machine may have an older server (Debian's 2.9), which knows every
 * field but those of FIELDS_SINCE_2_10: with it, the config without them must be valid, and the
 * full config must be refused for exactly those fields, so the list stays honest.
 */
const dir = mkdtempSync(join(tmpdir(), 'gavel-nats-conf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const version = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
const [, major, minor] = /v(\d+)\.(\d+)/.exec(version.stdout ?? '') ?? [];

function validate(name: string, text: string) {
  const file = join(dir, name);
  writeFileSync(file, text);
  // server_name comes from $POD_NAME, as in the pod.
  const result = spawnSync('nats-server', ['-c', file, '-t'], {
    encoding: 'utf8',
    env: { ...process.env, POD_NAME: 'nats-0' },
    timeout: 60_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe.each(PROFILES)('nats.conf of the %s profile', (profile, config) => {
  const conf: string = find(synthAll(config()), 'ConfigMap', 'nats-config').data['nats.conf'];

  it('is valid for a real nats-server', () => {
    expect(version.status, 'nats-server is not installed (apt-get install nats-server)').toBe(0);
    expect(NATS_IMAGE).toMatch(/^nats:2\.10\./);
    const older = Number(major) === 2 && Number(minor) < 10;
    const fieldLine = (field: string) => new RegExp(`^\\s*${field}\\s*:.*$`, 'm');
    const withoutNewer = FIELDS_SINCE_2_10.reduce((text, field) => text.replace(fieldLine(field), ''), conf);
    for (const field of FIELDS_SINCE_2_10) expect(conf, field).toMatch(fieldLine(field));

    const checked = validate(`${profile}.conf`, older ? withoutNewer : conf);
    expect(checked.output).toMatch(/configuration file .* is valid/);
    expect(checked.status).toBe(0);
    if (older) {
      const full = validate(`${profile}-full.conf`, conf);
      expect(full.status).toBe(1);
      expect(full.output).toMatch(new RegExp(`unknown field "(${FIELDS_SINCE_2_10.join('|')})"`));
    }
  });

  it('is refused when broken (the check can fail)', () => {
    const broken = validate(
      `${profile}-broken.conf`,
      conf.replace('no_advertise: true', 'no_advertise: maybe'),
    );
    expect(broken.status).toBe(1);
  });
});
