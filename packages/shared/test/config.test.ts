import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { commonEnv, ConfigError, envBool, envInt, loadConfig, requireAuthSecret } from '../src/config.js';

const shape = {
  ...commonEnv,
  PORT: envInt(8080, 1, 65535),
  DEV_TOKENS: envBool(false),
  BID_STRATEGY: z.enum(['lua', 'optimistic']).default('lua'),
};

describe('loadConfig', () => {
  it('applies the local defaults', () => {
    const config = loadConfig(shape, {});
    expect(config).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/gavel',
      NATS_URL: 'nats://127.0.0.1:4222',
      PORT: 8080,
      DEV_TOKENS: false,
      AUTH_MODE: 'jwt',
      BID_STRATEGY: 'lua',
    });
  });

  it('names every bad variable', () => {
    try {
      loadConfig(shape, { PORT: 'eighty', DEV_TOKENS: 'yes', REDIS_URL: 'http://x', BID_STRATEGY: 'fast' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const message = (err as Error).message;
      for (const name of ['PORT', 'DEV_TOKENS', 'REDIS_URL', 'BID_STRATEGY']) expect(message).toContain(name);
    }
  });

  it('requires a real secret in jwt mode only', () => {
    expect(() => requireAuthSecret({ AUTH_MODE: 'jwt' })).toThrow(/AUTH_SECRET/);
    expect(() => requireAuthSecret({ AUTH_MODE: 'jwt', AUTH_SECRET: 'short' })).toThrow(/AUTH_SECRET/);
    expect(() => requireAuthSecret({ AUTH_MODE: 'open' })).not.toThrow();
  });
});
