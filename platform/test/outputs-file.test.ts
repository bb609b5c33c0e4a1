import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { platformOutputsSchema } from '@gavel/shared';
import { PlatformOutputsError, parsePlatformOutputs, writePlatformOutputs } from '../src/outputs-file.js';

const fixture = readFileSync(new URL('./fixtures/platform-outputs.json', import.meta.url), 'utf8');
const projectDir = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'gavel-platform-outputs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const broken = () => {
  const value = JSON.parse(fixture);
  value.region = 'us-east';
  delete value.redis.host;
  value.nodePools.latency.taints[0].effect = 'Sometimes';
  return JSON.stringify(value);
};

describe('writePlatformOutputs', () => {
  it('writes the validated outputs where charts-ts reads them', () => {
    const out = join(work, 'charts-ts', 'platform-outputs.json');
    writePlatformOutputs(fixture, 'fixture', out);
    const written = JSON.parse(readFileSync(out, 'utf8'));
    expect(platformOutputsSchema.parse(written)).toEqual(JSON.parse(fixture));
  });

  it('refuses a bad shape, naming each bad field, and writes nothing', () => {
    const out = join(work, 'refused.json');
    expect(() => writePlatformOutputs(broken(), 'stack dev', out)).toThrow(PlatformOutputsError);
    expect(() => parsePlatformOutputs(broken(), 'stack dev')).toThrow(
      /stack dev does not match platformOutputsSchema[\s\S]*region[\s\S]*redis\.host[\s\S]*nodePools\.latency\.taints\.0\.effect/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('refuses output that is not JSON (e.g. the CLI printed an error)', () => {
    expect(() => parsePlatformOutputs('error: no stack named dev', 'stack dev')).toThrow(
      /stack dev is not JSON/,
    );
  });
});

// Each case starts node + tsx; on a shared machine that alone can take tens of seconds.
describe('npm run outputs (with a stand-in pulumi on PATH)', { timeout: 180_000 }, () => {
  const fakePulumi = (name: string, script: string) => {
    const dir = join(work, name);
    spawnSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'pulumi'), `#!/bin/sh\necho "$@" > "${dir}/args"\n${script}\n`);
    chmodSync(join(dir, 'pulumi'), 0o755);
    return dir;
  };
  const runCommand = (binDir: string, args: string[]) =>
    spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', 'src/write-outputs.ts', ...args], {
      cwd: projectDir,
      env: { ...process.env, PATH: `${binDir}:${process.env.PATH}`, INIT_CWD: work },
      encoding: 'utf8',
      timeout: 170_000,
    });

  it('asks pulumi for the masked platformOutputs of the stack and writes the file', () => {
    writeFileSync(join(work, 'good.json'), fixture);
    const bin = fakePulumi('good-bin', `cat "${join(work, 'good.json')}"`);
    const result = runCommand(bin, ['--stack', 'dev', '--out', 'out/platform-outputs.json']);
    expect(result.stderr).toContain('wrote');
    expect(result.status).toBe(0);
    expect(readFileSync(join(bin, 'args'), 'utf8').trim()).toBe(
      'stack output --json --show-secrets=false --stack dev platformOutputs',
    );
    expect(JSON.parse(readFileSync(join(work, 'out', 'platform-outputs.json'), 'utf8'))).toEqual(
      JSON.parse(fixture),
    );
  });

  it('exits non-zero with the schema errors when the stack output has the wrong shape', () => {
    writeFileSync(join(work, 'bad.json'), broken());
    const bin = fakePulumi('bad-bin', `cat "${join(work, 'bad.json')}"`);
    const result = runCommand(bin, ['--stack', 'dev', '--out', 'bad-out.json']);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/does not match platformOutputsSchema[\s\S]*redis\.host/);
    expect(existsSync(join(work, 'bad-out.json'))).toBe(false);
  });

  it('reports the pulumi error when the stack does not exist', () => {
    const bin = fakePulumi('missing-bin', `echo "error: no stack named 'nope' found" >&2\nexit 255`);
    const result = runCommand(bin, ['--stack', 'nope']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("no stack named 'nope' found");
    expect(result.stdout).toBe('');
  });

  it('requires --stack', () => {
    const result = runCommand(work, []);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/--stack is required[\s\S]*usage/);
  });
});
