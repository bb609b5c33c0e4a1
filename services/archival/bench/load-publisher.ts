/**
 * The benchmark's load generator, run as its own process (forked by load-process.ts) so
 * that publishing never shares the worker's or the measuring process's event loop. It publishes
 * benchBid events to a JetStream stream's subjects with core NATS publishes (each with its
 * Nats-Msg-Id, as the api sends them), phase after phase, and reports each phase over IPC.
 * Core publishes cost the generator ~1 µs each where an acknowledged js.publish costs ~90 µs;
 * the stream's message count is checked by the parent afterwards, so a lost publish is seen.
 */
import { connect, headers } from 'nats';
import { encodeEvent, subjectOf, type Topology } from '@gavel/shared';
import { benchBid } from './bench-events.js';

/** A steady rate for a while, or a burst published as fast as the connection takes it. */
export type LoadPhase =
  | { readonly kind: 'steady'; readonly perSecond: number; readonly seconds: number }
  | { readonly kind: 'burst'; readonly events: number };

export interface LoadRequest {
  readonly natsUrl: string;
  readonly topology: Topology;
  readonly tag: string;
  /** Index of the first event (benchBid's i). @default 0 */
  readonly from?: number;
  readonly phases: readonly LoadPhase[];
}

export interface PhaseReport {
  readonly phase: LoadPhase;
  readonly published: number;
  /** Wall-clock milliseconds (Date.now()) of the first and last publish of the phase. */
  readonly startedAt: number;
  readonly endedAt: number;
}

export type LoadReply =
  | { readonly type: 'phase'; readonly index: number; readonly report: PhaseReport }
  | { readonly type: 'done'; readonly published: number }
  | { readonly type: 'error'; readonly message: string };

/** A burst is written in slices of this many, each followed by a round trip to the server. */
const BURST_SLICE = 2000;
/** A steady phase publishes what is due every tick. */
const TICK_MS = 2;

async function publishAll(request: LoadRequest, reply: (r: LoadReply) => void): Promise<void> {
  const nc = await connect({ servers: request.natsUrl, name: 'archival-bench-load' });
  let i = request.from ?? 0;
  const publishOne = () => {
    const event = benchBid(request.tag, i);
    const h = headers();
    h.set('Nats-Msg-Id', event.id);
    nc.publish(subjectOf(event, request.topology), encodeEvent(event), { headers: h });
    i += 1;
  };
  try {
    for (const [index, phase] of request.phases.entries()) {
      const first = i;
      const startedAt = Date.now();
      if (phase.kind === 'burst') {
        while (i - first < phase.events) {
          const end = Math.min(first + phase.events, i + BURST_SLICE);
          while (i < end) publishOne();
          // Waits for the server to have read the slice: backpressure, and no unbounded buffer.
          await nc.flush();
        }
      } else {
        const total = Math.round(phase.perSecond * phase.seconds);
        const t0 = performance.now();
        while (i - first < total) {
          const due = Math.min(total, Math.floor(((performance.now() - t0) * phase.perSecond) / 1000));
          while (i - first < due) publishOne();
          await new Promise((resolve) => setTimeout(resolve, TICK_MS));
        }
        await nc.flush();
      }
      reply({
        type: 'phase',
        index,
        report: { phase, published: i - first, startedAt, endedAt: Date.now() },
      });
    }
    reply({ type: 'done', published: i - (request.from ?? 0) });
  } finally {
    await nc.drain();
  }
}

process.once('message', (request: LoadRequest) => {
  const reply = (r: LoadReply) => process.send?.(r);
  publishAll(request, reply).then(
    () => process.disconnect(),
    (err: unknown) => {
      reply({ type: 'error', message: err instanceof Error ? err.message : String(err) });
      process.disconnect();
    },
  );
});
