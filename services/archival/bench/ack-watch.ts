import type { NatsConnection } from 'nats';
import * as hdr from 'hdr-histogram-js';

/**
 * Watches a stream's acknowledgements from outside the worker. An ack is a plain NATS message
 * to the reply subject of the delivery, `$JS.ACK.<stream>.<consumer>.<deliveries>.<stream
 * seq>.<consumer seq>.<stored at, ns>.<pending>`, so any client may subscribe to them; the time
 * from "stored at" to the ack is the event's latency from the stream to PostgreSQL (the worker
 * acks only after COMMIT). Latencies are recorded in microseconds. `onAck` runs on every new
 * acknowledgement with the count so far. Watching costs the benchmark's process and the server a
 * copy of each ack, which is far cheaper than polling the consumer's state (a consumer-info
 * request costs the server ~0.6 ms on a 100k-message stream).
 */
export async function watchAcks(
  nc: NatsConnection,
  stream: string,
  options: { consumer?: string; onAck?: (acked: number) => void } = {},
) {
  /** Latencies are recorded only for stream sequences above this (a warm-up before it). */
  let recordAbove = 0;
  const latencyUs = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const text = new TextDecoder();
  const seen = new Set<number>();
  let acked = 0;
  const sub = nc.subscribe(`$JS.ACK.${stream}.${options.consumer ?? '*'}.>`, {
    callback: (_err, msg) => {
      // +ACK or an empty body is an ack; -NAK, +TERM, +WPI are not.
      if (msg.data.length > 0 && text.decode(msg.data) !== '+ACK') return;
      const tokens = msg.subject.split('.');
      const streamSeq = Number(tokens[tokens.length - 4]);
      const storedAtNs = BigInt(tokens[tokens.length - 2] ?? '0');
      if (seen.has(streamSeq)) return;
      seen.add(streamSeq);
      acked += 1;
      if (streamSeq <= recordAbove) return options.onAck?.(acked);
      const nowNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
      const us = Number((nowNs - storedAtNs) / 1000n);
      latencyUs.recordValue(Math.min(3_600_000_000, Math.max(1, us)));
      options.onAck?.(acked);
    },
  });
  // The server knows of the subscription before anything is acknowledged.
  await nc.flush();
  return {
    get acked() {
      return acked;
    },
    /** Leaves the events up to `seq` out of the latencies from now on. */
    recordOnlyAbove(seq: number) {
      recordAbove = seq;
    },
    /** Percentiles in milliseconds. */
    summary() {
      const ms = (us: number) => Number((us / 1000).toFixed(2));
      return {
        count: latencyUs.totalCount,
        p50: ms(latencyUs.getValueAtPercentile(50)),
        p90: ms(latencyUs.getValueAtPercentile(90)),
        p99: ms(latencyUs.getValueAtPercentile(99)),
        p99_9: ms(latencyUs.getValueAtPercentile(99.9)),
        max: ms(latencyUs.maxValue),
      };
    },
    async stop() {
      sub.unsubscribe();
      latencyUs.destroy();
    },
  };
}

export type LatencySummary = ReturnType<Awaited<ReturnType<typeof watchAcks>>['summary']>;
