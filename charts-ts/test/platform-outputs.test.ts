import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PlatformOutputsError, readPlatformOutputs } from '../src/platform-outputs.js';
import { EXAMPLE_PLATFORM_OUTPUTS } from '../src/synth-options.js';
import { CLI_TIMEOUT_MS, runCli } from './cli.js';

describe('platform outputs', () => {
  let dir: string;
  const example = () => JSON.parse(readFileSync(EXAMPLE_PLATFORM_OUTPUTS, 'utf8'));
  const write = (content: unknown) => {
    const path = join(dir, 'outputs.json');
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gavel-outputs-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the committed example', () => {
    expect(readPlatformOutputs(EXAMPLE_PLATFORM_OUTPUTS).images.api).toMatch(/\.dkr\.ecr\./);
  });

  it('names every bad field of a wrong shape', () => {
    const bad = example();
    bad.database.port = 'five thousand';
    delete bad.redis.secretName;
    bad.certificateArn = 'not-an-arn';
    const path = write(bad);
    expect(() => readPlatformOutputs(path)).toThrow(PlatformOutputsError);
    let message = '';
    try {
      readPlatformOutputs(path);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain(path);
    expect(message).toMatch(/database\.port/);
    expect(message).toMatch(/redis\.secretName/);
    expect(message).toMatch(/certificateArn/);
  });

  it('refuses a file that is not JSON, and a missing file', () => {
    expect(() => readPlatformOutputs(write('{ nope'))).toThrow(/is not JSON/);
    expect(() => readPlatformOutputs(join(dir, 'missing.json'))).toThrow(/cannot read platform outputs/);
  });

  it(
    'makes synth exit non-zero with the message and write nothing',
    () => {
      const bad = example();
      bad.nodePools.latency.taints[0].effect = 'Sometimes';
      const out = join(dir, 'dist');
      const result = runCli('synth', ['--profile', 'eks', '--platform-outputs', write(bad), '--out', out]);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/error: platform outputs .* has a bad shape/);
      expect(result.stderr).toMatch(/nodePools\.latency\.taints\.0\.effect/);
      expect(existsSync(out)).toBe(false);
    },
    CLI_TIMEOUT_MS,
  );
});
