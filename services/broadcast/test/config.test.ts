import { describe, expect, it } from 'vitest';
import { ConfigError } from '@gavel/shared';
import { loadBroadcastConfig } from '../src/config.js';

describe('loadBroadcastConfig', () => {
  it('rechecks room access every 10 s by default', () => {
    expect(loadBroadcastConfig({ AUTH_MODE: 'open' }).ROOM_ACCESS_RECHECK_S).toBe(10);
    expect(loadBroadcastConfig({ AUTH_MODE: 'open', ROOM_ACCESS_RECHECK_S: '1' }).ROOM_ACCESS_RECHECK_S).toBe(
      1,
    );
  });

  it.each(['0', '-5', 'ten', '1.5', '3601'])('refuses ROOM_ACCESS_RECHECK_S=%s, naming it', (value) => {
    const load = () => loadBroadcastConfig({ AUTH_MODE: 'open', ROOM_ACCESS_RECHECK_S: value });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/ROOM_ACCESS_RECHECK_S/);
  });
});
