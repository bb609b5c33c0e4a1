import { z } from 'zod';
import { PROBE_HEADER_BYTES } from './probe-frame.js';
import { PROTOCOLS, parseTarget, type Protocol, type Target } from './probe-transport.js';

/** A CLI flag with a value that cannot work; the CLI prints it and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const MAX_DURATION_S = 3600;
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

const number = (flag: string) =>
  z
    .string()
    .trim()
    .refine((v) => v !== '' && Number.isFinite(Number(v)), `${flag} must be a number`)
    .transform(Number);

const integer = (flag: string, min: number, max: number) =>
  number(flag).refine(
    (n) => Number.isInteger(n) && n >= min && n <= max,
    `${flag} must be a whole number from ${min} to ${max}`,
  );

const positive = (flag: string, max: number, unit = '') =>
  number(flag)
    .refine((n) => n > 0, `${flag} must be greater than 0`)
    .refine((n) => n <= max, `${flag} must be at most ${max}${unit}`);

const seconds = (flag: string, min: 'zero' | 'positive') =>
  number(flag)
    .refine(
      (n) => (min === 'zero' ? n >= 0 : n > 0),
      `${flag} must be ${min === 'zero' ? '0 or more' : 'greater than 0'}`,
    )
    .refine((n) => n <= MAX_DURATION_S, `${flag} must be at most ${MAX_DURATION_S} s`);

const loadShape = {
  connections: integer('--connections', 1, 10_000),
  rate: positive('--rate', 1_000_000, ' msg/s'),
  payload: integer('--payload', PROBE_HEADER_BYTES, MAX_PAYLOAD_BYTES),
  warmup: seconds('--warmup', 'zero'),
  duration: seconds('--duration', 'positive'),
  drainTimeout: integer('--drain-timeout', 0, 600_000),
  connectTimeout: integer('--connect-timeout', 1, 600_000),
};

/** The load every path of a compare run gets, as the agent in the client VPC also checks it. */
export const loadSpecSchema = z.object({
  connections: z.number().int().min(1).max(10_000),
  rate: z.number().positive().max(1_000_000),
  payloadBytes: z.number().int().min(PROBE_HEADER_BYTES).max(MAX_PAYLOAD_BYTES),
  warmupS: z.number().min(0).max(MAX_DURATION_S),
  durationS: z.number().positive().max(MAX_DURATION_S),
  drainTimeoutMs: z.number().int().min(0).max(600_000).optional(),
  connectTimeoutMs: z.number().int().min(1).max(600_000).optional(),
});

const runShape = z.object({
  ...loadShape,
  target: z.array(z.string()).min(1, '--target is required (one or more URLs)'),
  label: z.array(z.string().min(1)).default([]),
  protocol: z
    .enum(PROTOCOLS as [Protocol, ...Protocol[]], { error: '--protocol must be ws, socket.io or tcp' })
    .optional(),
  out: z.string().min(1).optional(),
  json: z.boolean().default(false),
  progress: z.boolean().default(true),
  loop: z.boolean().default(false),
  serveMetrics: integer('--serve-metrics', 0, 65535).optional(),
  pause: seconds('--pause', 'zero').default(0),
});

/** The load one run puts on each target: the same for `run` and for every path of `compare`. */
export interface LoadOptions {
  readonly connections: number;
  readonly rate: number;
  readonly payloadBytes: number;
  readonly warmupS: number;
  readonly durationS: number;
  readonly drainTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

export interface RunOptions extends LoadOptions {
  readonly targets: Target[];
  readonly out?: string;
  readonly json: boolean;
  readonly progress: boolean;
  readonly loop: boolean;
  readonly serveMetricsPort?: number;
  readonly pauseS: number;
}

function firstProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid options';
  return issue.message;
}

function payloadCheck(raw: Record<string, unknown>): void {
  const payload = Number(raw.payload);
  if (Number.isFinite(payload) && payload < PROBE_HEADER_BYTES) {
    throw new UsageError(
      `--payload must be at least ${PROBE_HEADER_BYTES} bytes: every message carries its intended send time, send time, connection and sequence number (got ${String(raw.payload)})`,
    );
  }
}

/** Checks the flags of the echo load run (commander hands them over as strings). */
export function parseRunOptions(raw: Record<string, unknown>): RunOptions {
  payloadCheck(raw);
  const parsed = runShape.safeParse(raw);
  if (!parsed.success) throw new UsageError(firstProblem(parsed.error));
  const o = parsed.data;
  if (o.label.length > o.target.length) {
    throw new UsageError(`--label given ${o.label.length} times for ${o.target.length} target(s)`);
  }
  let targets: Target[];
  try {
    targets = o.target.map((t, i) => parseTarget(t, o.protocol, o.label[i]));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return {
    targets,
    connections: o.connections,
    rate: o.rate,
    payloadBytes: o.payload,
    warmupS: o.warmup,
    durationS: o.duration,
    drainTimeoutMs: o.drainTimeout,
    connectTimeoutMs: o.connectTimeout,
    out: o.out,
    json: o.json,
    progress: o.progress && !o.json && process.stderr.isTTY === true,
    loop: o.loop,
    serveMetricsPort: o.serveMetrics,
    pauseS: o.pause,
  };
}

const httpUrl = (flag: string) =>
  z.string().refine((v) => {
    try {
      return ['http:', 'https:'].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `${flag} must be an http:// or https:// URL`);

const e2eShape = z.object({
  api: httpUrl('--api'),
  broadcast: httpUrl('--broadcast'),
  watchers: integer('--watchers', 1, 10_000),
  bidders: integer('--bidders', 1, 1000),
  rate: positive('--rate', 10_000, ' bids/s'),
  warmup: seconds('--warmup', 'zero'),
  duration: seconds('--duration', 'positive'),
  drainTimeout: integer('--drain-timeout', 0, 600_000),
  connectTimeout: integer('--connect-timeout', 1, 600_000),
  authSecret: z.string().min(16, '--auth-secret must be at least 16 characters').optional(),
  out: z.string().min(1).optional(),
  json: z.boolean().default(false),
  progress: z.boolean().default(true),
});

export interface E2eOptions {
  readonly apiUrl: URL;
  readonly broadcastUrl: URL;
  readonly watchers: number;
  readonly bidders: number;
  readonly rate: number;
  readonly warmupS: number;
  readonly durationS: number;
  readonly drainTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** Sign tokens with this HS256 secret instead of asking the api's dev token route. */
  readonly authSecret?: string;
  readonly out?: string;
  readonly json: boolean;
  readonly progress: boolean;
}

export function parseE2eOptions(raw: Record<string, unknown>): E2eOptions {
  const parsed = e2eShape.safeParse(raw);
  if (!parsed.success) throw new UsageError(firstProblem(parsed.error));
  const o = parsed.data;
  return {
    apiUrl: new URL(o.api),
    broadcastUrl: new URL(o.broadcast),
    watchers: o.watchers,
    bidders: o.bidders,
    rate: o.rate,
    warmupS: o.warmup,
    durationS: o.duration,
    drainTimeoutMs: o.drainTimeout,
    connectTimeoutMs: o.connectTimeout,
    authSecret: o.authSecret,
    out: o.out,
    json: o.json,
    progress: o.progress && !o.json && process.stderr.isTTY === true,
  };
}

const compareShape = z.object({
  ...loadShape,
  targetsFile: z.string().min(1, '--targets-file is required'),
  rounds: integer('--rounds', 1, 100).default(1),
  agentUrl: z
    .string()
    .refine((v) => {
      try {
        return ['http:', 'https:'].includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, '--agent-url must be an http:// or https:// URL')
    .optional(),
  only: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((label) => label.trim())
        .filter(Boolean),
    )
    .optional(),
  out: z.string().min(1).optional(),
  json: z.boolean().default(false),
  progress: z.boolean().default(true),
});

export interface CompareOptions {
  readonly targetsFile: string;
  /** Overrides the agent URL of the targets file (a port-forward, a local agent). */
  readonly agentUrl?: string;
  /** Measure only these labels, in the file's order. */
  readonly only?: readonly string[];
  /**
   * Every path this many times, interleaved (round 1: all paths, round 2: all paths …), each
   * time for the full duration; a path's rounds are merged. Drift on the way (a noisy neighbour,
   * a scaling event) then lands on every path alike instead of on whichever ran during it.
   */
  readonly rounds: number;
  readonly load: LoadOptions;
  readonly out?: string;
  readonly json: boolean;
  readonly progress: boolean;
}

/** Checks the flags of `gavel-latency compare`. */
export function parseCompareOptions(raw: Record<string, unknown>): CompareOptions {
  payloadCheck(raw);
  const parsed = compareShape.safeParse(raw);
  if (!parsed.success) throw new UsageError(firstProblem(parsed.error));
  const o = parsed.data;
  return {
    targetsFile: o.targetsFile,
    ...(o.agentUrl ? { agentUrl: o.agentUrl } : {}),
    ...(o.only ? { only: o.only } : {}),
    rounds: o.rounds,
    load: {
      connections: o.connections,
      rate: o.rate,
      payloadBytes: o.payload,
      warmupS: o.warmup,
      durationS: o.duration,
      drainTimeoutMs: o.drainTimeout,
      connectTimeoutMs: o.connectTimeout,
    },
    out: o.out,
    json: o.json,
    progress: o.progress && !o.json && process.stderr.isTTY === true,
  };
}
