import { describe, expect, it } from 'vitest';
import { UsageError, parseE2eOptions, parseRunOptions } from '../src/client/cli-options.js';

/** What commander hands over for `gavel-latency run` with its defaults. */
const defaults = {
  target: ['ws://127.0.0.1:8090/echo'],
  connections: '10',
  rate: '1000',
  payload: '64',
  warmup: '2',
  duration: '10',
  drainTimeout: '5000',
  connectTimeout: '5000',
  pause: '0',
};

describe('run options', () => {
  it('reads the defaults and infers the protocol from each URL', () => {
    const options = parseRunOptions({
      ...defaults,
      target: ['ws://a:8090', 'http://b:8090', 'wss://c/echo', 'tcp://d:9000'],
      label: ['pod-ip', 'clusterip'],
    });
    expect(options.targets.map((t) => [t.protocol, t.url.href, t.label])).toEqual([
      ['ws', 'ws://a:8090/echo', 'pod-ip'],
      ['socket.io', 'http://b:8090/echo', 'clusterip'],
      ['ws', 'wss://c/echo', 'ws c/echo'],
      ['tcp', 'tcp://d:9000', 'tcp d:9000'],
    ]);
    expect(options).toMatchObject({
      connections: 10,
      rate: 1000,
      payloadBytes: 64,
      warmupS: 2,
      durationS: 10,
    });
  });

  it('lets --protocol override the scheme', () => {
    const options = parseRunOptions({ ...defaults, target: ['ws://a:8090/echo'], protocol: 'socket.io' });
    expect(options.targets[0]!.url.href).toBe('http://a:8090/echo');
    expect(options.targets[0]!.protocol).toBe('socket.io');
  });

  it.each([
    [{ rate: '0' }, /--rate must be greater than 0/],
    [{ rate: '-3' }, /--rate must be greater than 0/],
    [{ rate: 'fast' }, /--rate must be a number/],
    [{ rate: '2000000' }, /--rate must be at most 1000000/],
    [{ duration: '0' }, /--duration must be greater than 0/],
    [{ duration: '3601' }, /--duration must be at most 3600 s/],
    [{ warmup: '-1' }, /--warmup must be 0 or more/],
    [{ payload: '23' }, /--payload must be at least 24 bytes/],
    [{ payload: '1.5e9' }, /--payload must be a whole number from 24 to 16777216/],
    [{ connections: '0' }, /--connections must be a whole number from 1 to 10000/],
    [{ connections: '2.5' }, /--connections must be a whole number/],
    [{ target: [] }, /--target is required/],
    [{ target: ['nope'] }, /bad target URL "nope"/],
    [{ target: ['ftp://x/'] }, /scheme must be ws, wss, http, https or tcp/],
    [{ target: ['tcp://x'] }, /tcp targets look like tcp:\/\/host:port/],
    [{ protocol: 'udp' }, /--protocol must be ws, socket.io or tcp/],
    [{ label: ['a', 'b'] }, /--label given 2 times for 1 target/],
    [{ serveMetrics: '70000' }, /--serve-metrics must be a whole number from 0 to 65535/],
  ])('refuses %j', (override, message) => {
    expect(() => parseRunOptions({ ...defaults, ...override })).toThrow(UsageError);
    expect(() => parseRunOptions({ ...defaults, ...override })).toThrow(message);
  });
});

describe('e2e options', () => {
  const e2eDefaults = {
    api: 'http://127.0.0.1:8080',
    broadcast: 'http://127.0.0.1:8081',
    watchers: '10',
    bidders: '5',
    rate: '5',
    warmup: '2',
    duration: '10',
    drainTimeout: '5000',
    connectTimeout: '5000',
  };

  it('reads the defaults', () => {
    expect(parseE2eOptions(e2eDefaults)).toMatchObject({ watchers: 10, bidders: 5, rate: 5, durationS: 10 });
  });

  it.each([
    [{ api: 'ws://x' }, /--api must be an http/],
    [{ broadcast: 'x' }, /--broadcast must be an http/],
    [{ watchers: '0' }, /--watchers must be a whole number from 1/],
    [{ rate: '0' }, /--rate must be greater than 0/],
    [{ duration: '7200' }, /--duration must be at most 3600 s/],
    [{ authSecret: 'short' }, /--auth-secret must be at least 16 characters/],
  ])('refuses %j', (override, message) => {
    expect(() => parseE2eOptions({ ...e2eDefaults, ...override })).toThrow(message);
  });
});
