import {
  DeliverPolicy,
  type JetStreamClient,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from 'nats';
import {
  contextOfHeaders,
  decodeEvent,
  inMessageSpan,
  subjects,
  type GavelEvent,
  type Topology,
} from '@gavel/shared';
import type { Logger } from 'pino';
import type { BroadcastMetrics } from './metrics.js';

/** One stored event as it reaches this replica live. */
export interface LiveEvent {
  readonly event: GavelEvent;
  /** Its stream sequence. */
  readonly seq: number;
  /**
   * The stream sequence of the previous event of the same subject (0: none), when the source
   * knows it: a value above the last one seen means events were missed in between.
   */
  readonly previous: number | undefined;
}

export interface LiveSubscription {
  close(): void;
}

/**
 * Live events of one subject at a time, subscribed by interest. Two implementations: core NATS
 * subscriptions to the stream's republished copies (the default: no server-side state per
 * subscription, routed by the server's subject tree), and, for a stream created without
 * RePublish on a nats-server that cannot add it (2.9), one ordered consumer per subject.
 */
export interface LiveSource {
  readonly kind: 'republish' | 'consumer';
  /**
   * Subscribes to `subject` (may hold one `*` wildcard token); resolves once the server has the
   * interest, so that any event stored after that reaches `onEvent`.
   */
  subscribe(subject: string, onEvent: (e: LiveEvent) => void): Promise<LiveSubscription>;
}

interface SourceDeps {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly topology: Topology;
  readonly metrics: BroadcastMetrics;
  readonly logger: Logger;
}

function decodeCounted(deps: SourceDeps, subject: string, data: Uint8Array): GavelEvent | undefined {
  const decoded = decodeEvent(data);
  if (!decoded.ok) {
    deps.metrics.drops.inc({ reason: 'bad_event' });
    deps.logger.warn({ subject, reason: decoded.reason }, 'undecodable event skipped');
    return undefined;
  }
  deps.metrics.eventsIn.inc({ source: 'nats', type: decoded.event.type });
  return decoded.event;
}

/**
 * Delivery to this replica's connections, in the trace of the publish the message carries (its
 * headers survive the stream's republish): the local fan-out runs synchronously inside.
 */
function deliverTraced(
  deps: SourceDeps,
  subject: string,
  headers: MsgHdrs | undefined,
  event: GavelEvent,
  deliver: () => void,
) {
  inMessageSpan(
    `deliver ${event.type}`,
    subject,
    contextOfHeaders(headers),
    { 'gavel.event.id': event.id },
    deliver,
  );
  // From the producer's clock to ours: skew between hosts shows here (NTP keeps it to ms).
  const lagMs = Date.now() - Date.parse(event.at);
  if (Number.isFinite(lagMs))
    deps.metrics.deliveryLag.observe({ type: event.type }, Math.max(0, lagMs) / 1000);
}

export function republishSource(deps: SourceDeps): LiveSource {
  const s = subjects(deps.topology);
  return {
    kind: 'republish',
    async subscribe(subject, onEvent) {
      const sub: Subscription = deps.nc.subscribe(s.live(subject), {
        callback: (err, m: Msg) => {
          if (err) {
            deps.logger.warn({ err, subject }, 'live subscription error');
            return;
          }
          const seq = Number(m.headers?.get('Nats-Sequence'));
          const last = m.headers?.get('Nats-Last-Sequence');
          if (!Number.isSafeInteger(seq) || seq <= 0) {
            deps.metrics.drops.inc({ reason: 'bad_event' });
            return;
          }
          const event = decodeCounted(deps, subject, m.data);
          if (!event) return;
          try {
            deliverTraced(deps, m.subject, m.headers, event, () =>
              onEvent({ event, seq, previous: last ? Number(last) : undefined }),
            );
          } catch (error) {
            deps.logger.error({ err: error, subject }, 'live event delivery failed');
          }
        },
      });
      // The server has the interest once our SUB is through: later stored events reach us.
      await deps.nc.flush();
      return { close: () => sub.unsubscribe() };
    },
  };
}

export function consumerSource(deps: SourceDeps): LiveSource {
  return {
    kind: 'consumer',
    async subscribe(subject, onEvent) {
      const consumer = await deps.js.consumers.get(deps.topology.stream, {
        filterSubjects: subject,
        deliver_policy: DeliverPolicy.New,
      });
      const messages = await consumer.consume();
      await consumer.info();
      void (async () => {
        for await (const m of messages) {
          const event = decodeCounted(deps, subject, m.data);
          if (!event) continue;
          try {
            // An ordered consumer has no gap by construction: nothing to report as `previous`.
            deliverTraced(deps, m.subject, m.headers, event, () =>
              onEvent({ event, seq: m.seq, previous: undefined }),
            );
          } catch (error) {
            deps.logger.error({ err: error, subject }, 'live event delivery failed');
          }
        }
      })().catch((err: unknown) => deps.logger.warn({ err, subject }, 'live consumer ended'));
      return { close: () => void messages.close().catch(() => undefined) };
    },
  };
}
