import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@gavel/shared';
import { REPO_ROOT } from '@gavel/shared/testing';
import { loadArchivalConfig } from '../src/config.js';

describe('config', () => {
  it('has the documented defaults', () => {
    const config = loadArchivalConfig({});
    expect(config).toMatchObject({
      PORT: 8082,
      CONSUMER_NAME: 'archival',
      NATS_STREAM: 'GAVEL',
      EVENT_PREFIX: 'gavel',
      CHAT_RETENTION_HOURS: 168,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/gavel',
    });
  });

  it.each([
    ['PORT', '70000'],
    ['BATCH_SIZE', '0'],
    ['BATCH_SIZE', 'ten'],
    ['BATCH_MAX_WAIT_MS', '-1'],
    ['MAX_DELIVERIES', '1.5'],
    ['ACK_WAIT_MS', '10'],
    ['CHAT_RETENTION_HOURS', '0'],
    ['RETENTION_INTERVAL_S', 'soon'],
    ['CONSUMER_NAME', 'has spaces'],
    ['DATABASE_URL', 'mysql://localhost/gavel'],
    ['NATS_URL', 'not a url'],
    ['NATS_STREAM', 'a.b'],
  ])('refuses %s=%s naming the variable', (name, value) => {
    expect(() => loadArchivalConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadArchivalConfig({ [name]: value })).toThrow(new RegExp(`^[\\s\\S]*\\b${name}: `));
  });

  it('stops the process with a message naming the bad variable', { timeout: 60_000 }, async () => {
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'services/archival/src/main.ts'],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, BATCH_SIZE: 'lots', CHAT_RETENTION_HOURS: '-3', PORT: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(output).toMatch(/BATCH_SIZE: must be an integer/);
    expect(output).toMatch(/CHAT_RETENTION_HOURS: must be an integer/);
  });
});
