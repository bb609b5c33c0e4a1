import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection, type JetStreamClient } from 'nats';
import { io as ioClient, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import {
  createLogger,
  encodeEvent,
  makeEvent,
  signToken,
  subjectOf,
  type Topology,
  type GavelEvent,
} from '@gavel/shared';
import {
  TEST_NATS_URL,
  TEST_REDIS_URL,
  TcpRelay,
  dropTopology,
  freePort,
  spawnService,
  testTopology,
  uniqueId,
  waitFor,
  type ServiceProcess,
} from '@gavel/shared/testing';
import { Redis } from 'ioredis';
import { buildBroadcastApp, type BroadcastApp } from '../src/app.js';
import { loadBroadcastConfig } from '../src/config.js';

export const ENTRY = 'services/broadcast/src/main.ts';

/** One test's world: its own stream, subject prefix, Redis prefix and secret. */
export class TestWorld {
  readonly topology: Topology = testTopology();
  readonly redisPrefix = `${uniqueId('bc')}:`;
  readonly secret = randomBytes(24).toString('hex');
  private nc: NatsConnection | undefined;
  private readonly cleanups: Array<() => Promise<unknown> | unknown> = [];

  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      REDIS_URL: TEST_REDIS_URL,
      NATS_URL: TEST_NATS_URL,
      REDIS_PREFIX: this.redisPrefix,
      NATS_STREAM: this.topology.stream,
      EVENT_PREFIX: this.topology.prefix,
      AUTH_MODE: 'jwt',
      AUTH_SECRET: this.secret,
      PRESENCE_TTL_S: '2',
      RECONNECT_JITTER_MS: '300',
      DRAIN_TIMEOUT_S: '10',
      // Every test client connects from 127.0.0.1; the limit's own test sets it low.
      MAX_CONNECTIONS_PER_ADDRESS: '100000',
      LOG_LEVEL: 'warn',
      ...extra,
    };
  }

  /** A replica in this process, on port 0. */
  async startInProcess(extra: Record<string, string> = {}): Promise<{ app: BroadcastApp; url: string }> {
    const config = loadBroadcastConfig({ ...this.env({ PORT: '0', HOST: '127.0.0.1', ...extra }) });
    const app = await buildBroadcastApp(config, createLogger('broadcast', 'silent'));
    const port = await app.listen();
    this.cleanups.push(() => app.close());
    return { app, url: `http://127.0.0.1:${port}` };
  }

  /** A replica as a child process (so it can be SIGKILLed or SIGTERMed). */
  async spawn(extra: Record<string, string> = {}): Promise<ServiceProcess> {
    const port = await freePort();
    const proc = await spawnService(ENTRY, this.env({ PORT: String(port), HOST: '127.0.0.1', ...extra }), {
      port,
      timeoutMs: 60_000,
    });
    this.cleanups.push(() => proc.kill('SIGKILL'));
    return proc;
  }

  async js(): Promise<JetStreamClient> {
    this.nc ??= await connect({ servers: TEST_NATS_URL });
    return this.nc.jetstream();
  }

  token(userId: string, expiresInSeconds?: number): Promise<string> {
    return signToken(this.secret, userId, expiresInSeconds === undefined ? {} : { expiresInSeconds });
  }

  async publish(event: GavelEvent): Promise<void> {
    const js = await this.js();
    await js.publish(subjectOf(event, this.topology), encodeEvent(event), { msgID: event.id });
  }

  async publishBid(itemId: string, seq: number, userId = 'bidder'): Promise<void> {
    await this.publish(makeEvent('bid.accepted', { itemId, seq, userId, amountCents: 1000 + seq * 100 }));
  }

  defer(cleanup: () => Promise<unknown> | unknown): void {
    this.cleanups.push(cleanup);
  }

  async close(): Promise<void> {
    for (const c of this.cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    await this.nc?.close();
    await dropTopology(this.topology);
    const redis = new Redis(TEST_REDIS_URL);
    const keys = await redis.keys(`${this.redisPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
}

export interface SioOptions {
  readonly auth: Record<string, unknown>;
  readonly reconnection?: boolean;
  readonly extraHeaders?: Record<string, string>;
}

export function sio(url: string, options: SioOptions): Socket {
  return ioClient(url, {
    path: '/socket.io',
    transports: ['websocket'],
    auth: options.auth,
    reconnection: options.reconnection ?? false,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    forceNew: true,
    ...(options.extraHeaders ? { extraHeaders: options.extraHeaders } : {}),
  });
}

export function connected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve();
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => reject(err));
  });
}

/** Emits with an ack and a generous timeout. */
export async function call<T = Record<string, unknown>>(
  socket: Socket,
  event: string,
  payload?: unknown,
): Promise<T> {
  const answer: unknown =
    payload === undefined
      ? await socket.timeout(10_000).emitWithAck(event)
      : await socket.timeout(10_000).emitWithAck(event, payload);
  return answer as T;
}

/** Records every `bid` a client receives. */
export function recordBids(socket: Socket): number[] {
  const seqs: number[] = [];
  socket.on('bid', (b: { seq: number }) => seqs.push(b.seq));
  return seqs;
}

export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A plain WebSocket client that queues the frames it receives. */
export class WsClient {
  readonly frames: Array<Record<string, unknown>> = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.frames.push(JSON.parse(String(data)) as Record<string, unknown>));
  }

  static open(url: string, query: string, headers: Record<string, string> = {}): Promise<WsClient> {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws?${query}`, { headers });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new WsClient(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  async next(
    match: (f: Record<string, unknown>) => boolean,
    what = 'frame',
  ): Promise<Record<string, unknown>> {
    return waitFor(() => this.frames.find(match), { timeoutMs: 10_000, what });
  }

  /** Sends a frame with a reqId and waits for its ack or error. */
  async request(frame: Record<string, unknown>): Promise<Record<string, unknown>> {
    const reqId = uniqueId('r');
    this.send({ ...frame, reqId });
    return this.next((f) => f.reqId === reqId, `answer to ${String(frame.type)}`);
  }

  close(): void {
    this.ws.close();
  }
}

/**
 * A tiny TCP load balancer standing in for the ALB: new connections go round-robin to the
 * backends whose /readyz answers 200, so a draining or dead replica stops getting clients.
 */
export class TestBalancer {
  private ready: string[] = [];
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly relay = new TcpRelay(() => {
    const target = this.ready[this.next++ % Math.max(1, this.ready.length)];
    if (!target) return undefined;
    const { hostname, port } = new URL(target);
    return { host: hostname, port: Number(port) };
  });

  constructor(private readonly backends: () => string[]) {}

  get url(): string {
    return this.relay.url;
  }

  async start(): Promise<void> {
    await this.probe();
    this.timer = setInterval(() => void this.probe(), 100);
    await this.relay.listen(0);
  }

  private async probe(): Promise<void> {
    const results = await Promise.all(
      this.backends().map(async (b) => {
        try {
          const res = await fetch(`${b}/readyz`, { signal: AbortSignal.timeout(2000) });
          return res.ok ? b : undefined;
        } catch (err) {
          // A slow answer on a busy machine is not a verdict: keep what we knew.
          if (err instanceof Error && err.name === 'TimeoutError')
            return this.ready.includes(b) ? b : undefined;
          return undefined;
        }
      }),
    );
    this.ready = results.filter((b): b is string => b !== undefined);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.relay.close();
  }
}

/** The value of one Prometheus sample of a replica (0 when absent). */
export async function metric(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  // A metric that was renamed would read as 0 for ever and turn into a timeout: say so instead.
  if (!text.includes(`# TYPE ${name} `)) throw new Error(`${url}/metrics has no metric named ${name}`);
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = line.slice(name.length).split(' ')[0] ?? '';
    if (wanted.every((w) => labelText.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}
