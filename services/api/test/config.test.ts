import { describe, expect, it } from 'vitest';
import { ConfigError } from '@gavel/shared';
import { loadApiConfig } from '../src/config.js';

describe('loadApiConfig', () => {
  it('has the documented defaults', () => {
    const config = loadApiConfig({ AUTH_MODE: 'open' });
    expect(config).toMatchObject({
      PORT: 8080,
      HOST: '0.0.0.0',
      BID_STRATEGY: 'lua',
      DEV_TOKENS: false,
      AUTO_OPEN_ITEMS: false,
      EXTEND_WINDOW_S: 30,
      EXTEND_BY_S: 30,
      OUTBOX_RELAY: true,
      CLOSER: true,
      DEV_TOKEN_TTL_S: 43_200,
    });
  });

  it.each([
    [{ AUTH_MODE: 'open', BID_STRATEGY: 'fast' }, 'BID_STRATEGY'],
    [{ AUTH_MODE: 'open', PORT: 'eighty' }, 'PORT'],
    [{ AUTH_MODE: 'open', OUTBOX_RELAY: 'yes' }, 'OUTBOX_RELAY'],
    [{ AUTH_MODE: 'open', EXTEND_WINDOW_S: '-1' }, 'EXTEND_WINDOW_S'],
    [{ AUTH_MODE: 'open', DEV_TOKEN_TTL_S: '2' }, 'DEV_TOKEN_TTL_S'],
    [{ AUTH_MODE: 'open', REDIS_URL: 'http://x' }, 'REDIS_URL'],
    [{ AUTH_MODE: 'jwt' }, 'AUTH_SECRET'],
    [{ AUTH_MODE: 'jwt', AUTH_SECRET: 'short' }, 'AUTH_SECRET'],
  ])('refuses %j naming %s', (env, variable) => {
    expect(() => loadApiConfig(env)).toThrow(ConfigError);
    expect(() => loadApiConfig(env)).toThrow(variable);
  });
});
