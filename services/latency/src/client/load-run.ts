import { createClock, decodeProbe, encodeProbe } from './probe-frame.js';
import { createLatencyHistogram, recordNs, type Histogram } from './latency-histogram.js';
import { openTransport, type ProbeTransport, type Target } from './probe-transport.js';

/** The load one run applies to one target. */
export interface LoadSpec {
  readonly connections: number;
  /** Total messages per second over all connections. */
  readonly rate: number;
  readonly payloadBytes: number;
  /** Seconds sent at full rate whose samples are thrown away (JIT, TCP windows, caches). */
  readonly warmupS: number;
  /** Seconds whose samples are kept. */
  readonly durationS: number;
  /** How long to wait for the last replies after the last send. @default 5000 */
  readonly drainTimeoutMs?: number;
  /** @default 5000 */
  readonly connectTimeoutMs?: number;
}

export type LoadPhase = 'connecting' | 'warmup' | 'measure' | 'drain';

export interface LoadProgress {
  readonly phase: LoadPhase;
  readonly elapsedS: number;
  readonly totalS: number;
  readonly sent: number;
  readonly received: number;
  readonly errors: number;
  readonly histogram: Histogram;
}

export interface LoadResult {
  readonly target: Target;
  readonly spec: LoadSpec;
  /** Reply time minus INTENDED send time, in µs: the coordinated-omission-safe latency. */
  readonly histogram: Histogram;
  /** Reply time minus actual send time, in µs: excludes the client's own lateness. */
  readonly serviceHistogram: Histogram;
  /** Messages the schedule called for in the measured window. */
  readonly expected: number;
  readonly sent: number;
  readonly received: number;
  /** Due in the measured window but never answered before the drain timeout (failed sends too). */
  readonly lost: number;
  /** `lost` plus connections lost during the run. */
  readonly errors: number;
  /** Replies per second received in the measured window. */
  readonly achievedRate: number;
  /** Largest delay between a message's intended and actual send time, in ms. */
  readonly maxSendLagMs: number;
  readonly startedAt: string;
  readonly finishedAt: string;
}

export interface RunHooks {
  /** Every `progressIntervalMs` while the run lasts. */
  readonly onProgress?: (progress: LoadProgress) => void;
  /** @default 250 */
  readonly progressIntervalMs?: number;
  /** Every measured sample, in µs from its intended send time, and which message it was. */
  readonly onSample?: (us: number, probe: { connection: number; seq: number }) => void;
  /** Cuts the run short; what was measured so far is still returned. */
  readonly signal?: AbortSignal;
}

/**
 * Sends `rate` messages per second, round-robin over `connections`, on a fixed schedule of
 * intended send times that never waits for replies (open loop). A reply is timed from the
 * intended send time it carries, so a server or network that stalls shows up as latency of
 * the messages that should have gone out meanwhile, not as messages never sent.
 */
export async function runLoad(target: Target, spec: LoadSpec, hooks: RunHooks = {}): Promise<LoadResult> {
  const clock = createClock();
  const startedAt = new Date().toISOString();
  const histogram = createLatencyHistogram();
  const serviceHistogram = createLatencyHistogram();
  const intervalNs = 1e9 / spec.rate;
  const warmupCount = Math.round(spec.rate * spec.warmupS);
  const total = warmupCount + Math.round(spec.rate * spec.durationS);
  const connections = spec.connections;

  let phase: LoadPhase = 'connecting';
  let sent = 0;
  let sentMeasured = 0;
  let receivedMeasured = 0;
  let receivedAll = 0;
  let sendErrors = 0;
  let connectionsLost = 0;
  let maxSendLagNs = 0;
  let startNs = 0;
  let whenAllReceived: (() => void) | undefined;

  const onReply = (frame: Uint8Array) => {
    const now = clock();
    const probe = decodeProbe(frame);
    if (!probe || probe.connection >= connections) return;
    receivedAll++;
    const index = probe.seq * connections + probe.connection;
    if (index >= warmupCount) {
      receivedMeasured++;
      const latencyNs = now - probe.intendedNs;
      recordNs(histogram, latencyNs);
      recordNs(serviceHistogram, now - probe.sentNs);
      hooks.onSample?.(latencyNs / 1000, probe);
    }
    if (receivedAll === sent && sent === total) whenAllReceived?.();
  };

  const reportProgress = () =>
    hooks.onProgress?.({
      phase,
      elapsedS: startNs ? Math.max(0, (clock() - startNs) / 1e9) : 0,
      totalS: spec.warmupS + spec.durationS,
      sent,
      received: receivedAll,
      errors: sendErrors + connectionsLost,
      histogram,
    });
  const progressTimer = setInterval(reportProgress, hooks.progressIntervalMs ?? 250);

  const transports: ProbeTransport[] = [];
  try {
    const opened = await Promise.allSettled(
      Array.from({ length: connections }, () =>
        openTransport(target, { onReply, onLost: () => connectionsLost++ }, spec.connectTimeoutMs ?? 5000),
      ),
    );
    for (const result of opened) if (result.status === 'fulfilled') transports.push(result.value);
    const failure = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;

    // The schedule: message i is due at startNs + i / rate, on connection i mod connections.
    startNs = clock() + 5e6;
    phase = warmupCount > 0 ? 'warmup' : 'measure';
    const seqs = new Array<number>(connections).fill(0);
    await new Promise<void>((resolve) => {
      const tick = () => {
        if (hooks.signal?.aborted) return resolve();
        const now = clock();
        while (sent < total) {
          const intendedNs = startNs + sent * intervalNs;
          if (intendedNs > now) break;
          const connection = sent % connections;
          const seq = seqs[connection]!;
          seqs[connection] = seq + 1;
          const sentNs = clock();
          maxSendLagNs = Math.max(maxSendLagNs, sentNs - intendedNs);
          const frame = encodeProbe({ intendedNs, sentNs, connection, seq }, spec.payloadBytes);
          if (!transports[connection]!.send(frame)) sendErrors++;
          if (sent >= warmupCount) sentMeasured++;
          sent++;
        }
        if (sent >= warmupCount && phase === 'warmup') phase = 'measure';
        if (sent >= total) return resolve();
        const waitMs = (startNs + sent * intervalNs - clock()) / 1e6;
        setTimeout(tick, Math.max(0, waitMs));
      };
      tick();
    });

    phase = 'drain';
    if (receivedAll < sent - sendErrors && !hooks.signal?.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, spec.drainTimeoutMs ?? 5000);
        whenAllReceived = () => {
          clearTimeout(timer);
          resolve();
        };
        hooks.signal?.addEventListener('abort', () => whenAllReceived?.(), { once: true });
      });
    }
    reportProgress();
  } finally {
    clearInterval(progressTimer);
    await Promise.all(transports.map((t) => t.close().catch(() => undefined)));
  }

  const lost = Math.max(0, sentMeasured - receivedMeasured);
  // The measured window is what the schedule covered (shorter than asked if aborted).
  const windowS = sentMeasured / spec.rate;
  return {
    target,
    spec,
    histogram,
    serviceHistogram,
    expected: total - warmupCount,
    sent: sentMeasured,
    received: receivedMeasured,
    lost,
    errors: lost + connectionsLost,
    achievedRate: windowS > 0 ? receivedMeasured / windowS : 0,
    maxSendLagMs: Math.round(maxSendLagNs / 1e3) / 1e3,
    startedAt,
    finishedAt: new Date().toISOString(),
  };
}

/**
 * Several runs of one target with one spec as one result: histograms added, counters summed,
 * the achieved rate over all measured windows, the worst send lag.
 */
export function mergeLoadResults(results: readonly LoadResult[]): LoadResult {
  const [first, ...rest] = results;
  if (!first) throw new Error('mergeLoadResults needs at least one result');
  if (rest.length === 0) return first;
  const histogram = createLatencyHistogram();
  const serviceHistogram = createLatencyHistogram();
  for (const r of results) {
    histogram.add(r.histogram);
    serviceHistogram.add(r.serviceHistogram);
  }
  const sum = (pick: (r: LoadResult) => number) => results.reduce((n, r) => n + pick(r), 0);
  const sent = sum((r) => r.sent);
  const received = sum((r) => r.received);
  const windowS = sent / first.spec.rate;
  return {
    target: first.target,
    spec: first.spec,
    histogram,
    serviceHistogram,
    expected: sum((r) => r.expected),
    sent,
    received,
    lost: sum((r) => r.lost),
    errors: sum((r) => r.errors),
    achievedRate: windowS > 0 ? received / windowS : 0,
    maxSendLagMs: Math.max(...results.map((r) => r.maxSendLagMs)),
    startedAt: first.startedAt,
    finishedAt: results.at(-1)!.finishedAt,
  };
}
