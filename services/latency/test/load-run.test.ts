import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad, type LoadSpec } from '../src/client/load-run.js';
import { createServer, type AddressInfo } from 'node:net';
import { frameTcp, parseTarget, readTcpFrames } from '../src/client/probe-transport.js';
import { startDelayingServer, startEchoServer, startStallingServer } from './support/echo-servers.js';

const within5Percent = (actual: number, expected: number) => {
  expect(actual).toBeGreaterThanOrEqual(Math.floor(expected * 0.95));
  expect(actual).toBeLessThanOrEqual(Math.ceil(expected * 1.05));
};

describe('runLoad against the real echo server', () => {
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  beforeAll(async () => {
    echo = await startEchoServer();
  });
  afterAll(() => echo.close());

  it('sends rate × duration messages over raw WebSocket and gets every one back', async () => {
    const spec: LoadSpec = { connections: 8, rate: 400, payloadBytes: 128, warmupS: 0.5, durationS: 2.5 };
    const result = await runLoad(parseTarget(`ws://127.0.0.1:${echo.port}/echo`), spec);
    within5Percent(result.received, 400 * 2.5);
    expect(result.expected).toBe(1000);
    expect(result.sent).toBe(1000);
    expect(result.histogram.totalCount).toBe(result.received);
    expect(result.errors).toBe(0);
    within5Percent(Math.round(result.achievedRate), 400);
    // The latency from the intended send time can only be longer than from the actual one.
    expect(result.histogram.getValueAtPercentile(50)).toBeGreaterThanOrEqual(
      result.serviceHistogram.getValueAtPercentile(50),
    );
  });

  it('measures the Socket.IO /echo namespace the same way', async () => {
    const spec: LoadSpec = { connections: 4, rate: 150, payloadBytes: 64, warmupS: 0.5, durationS: 2 };
    const target = parseTarget(`http://127.0.0.1:${echo.port}`);
    expect(target.protocol).toBe('socket.io');
    expect(target.url.pathname).toBe('/echo');
    const result = await runLoad(target, spec);
    within5Percent(result.received, 300);
    expect(result.errors).toBe(0);
    const metrics = await (await fetch(`http://127.0.0.1:${echo.port}/metrics`)).text();
    const echoed = /gavel_latency_echo_messages_total\{protocol="socket\.io"[^}]*\} (\d+)/.exec(metrics);
    // Warm-up and measured messages all went through the Socket.IO namespace.
    expect(Number(echoed?.[1])).toBe(75 + 300);
  });

  it('counts a connection that cannot be opened as an error, not as a quiet zero', async () => {
    await expect(
      runLoad(parseTarget(`ws://127.0.0.1:${echo.port}/nowhere`), {
        connections: 1,
        rate: 10,
        payloadBytes: 32,
        warmupS: 0,
        durationS: 1,
      }),
    ).rejects.toThrow(/HTTP 404/);
  });
});

/** A 50 ms server delay as the client can observe it, less libuv's timer granularity. */
const TIMER_FLOOR_US = 49_000;

describe('coordinated omission', () => {
  it('records every 50 ms delay of every 10th message, so the delays fill the tail (p90+)', async () => {
    const server = await startDelayingServer(10, 50);
    try {
      const delayed: number[] = [];
      const others: number[] = [];
      // 10 connections × 20 msg/s: the warm-up (10 per connection) and the measured window
      // (60 per connection) hold whole multiples of 10, so exactly 10 % of samples are delayed.
      const result = await runLoad(
        parseTarget(server.url),
        { connections: 10, rate: 200, payloadBytes: 64, warmupS: 0.5, durationS: 3 },
        // The server delays its n-th message on a connection when n % 10 === 0, i.e. seq 9, 19, …
        { onSample: (us, probe) => ((probe.seq + 1) % 10 === 0 ? delayed : others).push(us) },
      );
      expect(result.received).toBe(600);
      expect(delayed).toHaveLength(60);
      // Not one delayed message was lost or timed from a later point than its intended send.
      // (The server's 50 ms setTimeout runs on libuv's cached loop clock, so by hrtime it may
      // fire up to a millisecond early: 49 ms is the floor a correct client can show.)
      for (const us of delayed) expect(us).toBeGreaterThanOrEqual(TIMER_FLOOR_US);
      // The delays sit on top of whatever else the machine adds (a busy machine adds tens of ms
      // to every sample): relative to the others, not to a fixed figure.
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
      expect(median(delayed)).toBeGreaterThan(median(others));
      // 10 % of the samples are ≥ 50 ms: the 99th percentile is one of them, the median is not.
      expect(result.histogram.getValueAtPercentile(99)).toBeGreaterThanOrEqual(TIMER_FLOOR_US);
      expect(result.histogram.getValueAtPercentile(50)).toBeLessThan(median(delayed));
    } finally {
      await server.close();
    }
  });

  it('turns a 200 ms stall into samples of 200 ms and more, with no sample missing', async () => {
    const server = await startStallingServer(1000, 200);
    try {
      let stalled = 0;
      const result = await runLoad(
        parseTarget(server.url),
        { connections: 5, rate: 250, payloadBytes: 64, warmupS: 0.2, durationS: 2.5 },
        { onSample: (us) => (us >= 100_000 ? stalled++ : undefined) },
      );
      // Every scheduled message was sent and answered: the stall did not thin the samples out.
      expect(result.sent).toBe(625);
      expect(result.received).toBe(625);
      expect(result.lost).toBe(0);
      expect(result.histogram.maxValue).toBeGreaterThanOrEqual(200_000 - (50_000 - TIMER_FLOOR_US));
      // The messages due during the first half of the stall (250/s × 0.1 s) waited ≥ 100 ms.
      expect(stalled).toBeGreaterThanOrEqual(20);
      // The stall fills the tail, not the whole distribution (however slow the machine is).
      expect(result.histogram.getValueAtPercentile(50)).toBeLessThan(result.histogram.maxValue);
    } finally {
      await server.close();
    }
  });
});

describe('raw TCP baseline transport', () => {
  it('splits a byte stream cut anywhere back into the frames', () => {
    const frames = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(300, 7), Buffer.from('last')];
    const stream = Buffer.concat(frames.map(frameTcp));
    for (const cut of [1, 3, 5, 64, stream.length]) {
      const got: Buffer[] = [];
      const read = readTcpFrames((f) => got.push(Buffer.from(f)));
      for (let i = 0; i < stream.length; i += cut) read(stream.subarray(i, i + cut));
      expect(got).toEqual(frames);
    }
  });

  it('measures a length-prefixed TCP echo server like any other target', async () => {
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      socket.on(
        'data',
        readTcpFrames((frame) => socket.write(frameTcp(frame))),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const result = await runLoad(parseTarget(`tcp://127.0.0.1:${port}`), {
        connections: 3,
        rate: 300,
        payloadBytes: 40,
        warmupS: 0.3,
        durationS: 2,
      });
      expect(result.received).toBe(600);
      expect(result.errors).toBe(0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
