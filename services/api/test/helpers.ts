import { Redis } from 'ioredis';
import { connect } from 'nats';
import { decodeEvent, type GavelEvent, type Topology } from '@gavel/shared';
import { TEST_NATS_URL, TEST_REDIS_URL, dropTopology, testTopology, uniqueId } from '@gavel/shared/testing';
import { buildApp, type Api } from '../src/app.js';
import { loadApiConfig, type ApiConfig } from '../src/config.js';
import { redisKeys, type RedisKeys } from '../src/redis-keys.js';

export const TEST_SECRET = 'test-secret-0123456789abcdef';

/** Names a test's data lives under: its own Redis prefix, stream and subject prefix. */
export interface TestNames {
  readonly prefix: string;
  readonly topology: Topology;
}

export function testNames(): TestNames {
  return { prefix: `${uniqueId('api')}:`, topology: testTopology() };
}

/** Environment for an api under test: open auth, no background loops unless asked. */
export function testEnv(names: TestNames, env: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: TEST_REDIS_URL,
    NATS_URL: TEST_NATS_URL,
    REDIS_PREFIX: names.prefix,
    NATS_STREAM: names.topology.stream,
    EVENT_PREFIX: names.topology.prefix,
    AUTH_MODE: 'open',
    OUTBOX_RELAY: 'false',
    CLOSER: 'false',
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    PORT: '0',
    BID_RATE_LIMIT_PER_S: '100000',
    ...env,
  };
}

export interface TestApi {
  readonly url: string;
  readonly api: Api;
  readonly config: ApiConfig;
  close(): Promise<void>;
}

/** Builds the api in this process on a free port. */
export async function startApi(names: TestNames, env: Record<string, string> = {}): Promise<TestApi> {
  const config = loadApiConfig(testEnv(names, env));
  const api = await buildApp(config);
  const address = await api.app.listen({ port: 0, host: '127.0.0.1' });
  return { url: address, api, config, close: () => api.close() };
}

/** A plain Redis client to look at (and clean up) a test's keys. */
export class RedisProbe {
  readonly redis = new Redis(TEST_REDIS_URL);
  readonly keys: RedisKeys;
  /** The one outbox stream of a single-node layout. */
  readonly outboxKey: string;

  constructor(readonly prefix: string) {
    this.keys = redisKeys(prefix);
    this.outboxKey = this.keys.partitions[0]!.outbox;
  }

  /** Events waiting in the outbox, decoded, oldest first. */
  async outbox(): Promise<GavelEvent[]> {
    const entries = await this.redis.xrange(this.outboxKey, '-', '+');
    return entries.map(([, fields]) => {
      const decoded = decodeEvent(fields[1] ?? '');
      if (!decoded.ok) throw new Error(decoded.reason);
      return decoded.event;
    });
  }

  /** Every key and its content (hash, zset, stream, string, set), for "nothing changed" checks. */
  async snapshot(): Promise<Record<string, unknown>> {
    const keys = (await this.redis.keys(`${this.prefix}*`)).filter((k) => !k.includes(':rl:')).sort();
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const type = await this.redis.type(key);
      if (type === 'hash') out[key] = await this.redis.hgetall(key);
      else if (type === 'zset') out[key] = await this.redis.zrange(key, 0, -1, 'WITHSCORES');
      else if (type === 'stream') out[key] = await this.redis.xrange(key, '-', '+');
      else if (type === 'string') out[key] = await this.redis.get(key);
      else if (type === 'set') out[key] = (await this.redis.smembers(key)).sort();
      else out[key] = type;
    }
    return out;
  }

  async cleanup(): Promise<void> {
    const keys = await this.redis.keys(`${this.prefix}*`);
    if (keys.length > 0) await this.redis.del(...keys);
    await this.redis.quit();
  }
}

/** Every event in a JetStream stream, in stream order. */
export async function readStream(topology: Topology): Promise<GavelEvent[]> {
  const nc = await connect({ servers: TEST_NATS_URL });
  try {
    const jsm = await nc.jetstreamManager();
    let info;
    try {
      info = await jsm.streams.info(topology.stream);
    } catch {
      return [];
    }
    const events: GavelEvent[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const msg = await jsm.streams.getMessage(topology.stream, { seq });
      const decoded = decodeEvent(msg.data);
      if (!decoded.ok) throw new Error(`stream seq ${seq}: ${decoded.reason}`);
      events.push(decoded.event);
    }
    return events;
  } finally {
    await nc.close();
  }
}

export async function cleanupNames(names: TestNames, probe?: RedisProbe): Promise<void> {
  await probe?.cleanup();
  await dropTopology(names.topology);
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
}

/** A JSON request; a bounded wait so that a hang fails the test instead of stalling it. */
export async function http(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  const init: RequestInit = { method, headers: { ...headers }, signal: AbortSignal.timeout(90_000) };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${url}${path}`, init);
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = { raw: text };
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Opens an item through the API; endsAt in ms from now. */
export async function createItem(
  url: string,
  options: { id?: string; endsInMs?: number; startingPrice?: string; minIncrement?: string } = {},
  headers: Record<string, string> = {},
): Promise<string> {
  const id = options.id ?? uniqueId('item');
  const res = await http(
    url,
    'POST',
    '/api/v1/items',
    {
      id,
      title: `Item ${id}`,
      startingPrice: options.startingPrice ?? '10.00',
      minIncrement: options.minIncrement ?? '1.00',
      endsAt: new Date(Date.now() + (options.endsInMs ?? 3_600_000)).toISOString(),
    },
    headers,
  );
  if (res.status !== 201) throw new Error(`create item: ${res.status} ${JSON.stringify(res.body)}`);
  return id;
}

export function bid(
  url: string,
  itemId: string,
  userId: string,
  amount: unknown,
  headers: Record<string, string> = {},
) {
  return http(url, 'POST', `/api/v1/items/${itemId}/bid`, { user_id: userId, amount }, headers);
}
