import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createRegistry } from '@gavel/shared';
import type { Interests } from './interests.js';

/** The gateway's Prometheus metrics, on a registry of its own. */
export function createBroadcastMetrics(state: {
  /** Labels of every series: which replica, of which colour (blue/green). */
  replica: string;
  color: string;
  draining: () => boolean;
  interests: () => Interests | undefined;
  /** Messages this replica's NATS connection has received (live events, reads, acks). */
  natsInMessages: () => number;
}) {
  const registry: Registry = createRegistry('broadcast', { replica: state.replica, color: state.color });
  new Gauge({
    name: 'gavel_broadcast_connections',
    help: 'Open client connections by transport (replica and color are labels of every broadcast metric)',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      this.set({ transport: 'socketio' }, state.interests()?.count('socketio') ?? 0);
      this.set({ transport: 'ws' }, state.interests()?.count('ws') ?? 0);
    },
  });
  new Gauge({
    name: 'gavel_broadcast_rooms',
    help: 'Chat rooms with at least one local member',
    registers: [registry],
    collect() {
      this.set(state.interests()?.roomCount() ?? 0);
    },
  });
  new Gauge({
    name: 'gavel_broadcast_item_feeds',
    help: 'Items with a live feed on this replica',
    registers: [registry],
    collect() {
      this.set(state.interests()?.itemFeedCount() ?? 0);
    },
  });
  new Gauge({
    name: 'gavel_broadcast_live_subscriptions',
    help: 'Event subjects this replica subscribes to, opened and closed with its local interests',
    registers: [registry],
    collect() {
      this.set(state.interests()?.subscriptionCount() ?? 0);
    },
  });
  let natsSeen = 0;
  new Counter({
    name: 'gavel_broadcast_nats_messages_received_total',
    help: 'Messages the NATS connection received (live events, stream reads, acks): the per-replica cost of traffic',
    registers: [registry],
    collect() {
      const now = state.natsInMessages();
      if (now > natsSeen) this.inc(now - natsSeen);
      natsSeen = now;
    },
  });
  new Gauge({
    name: 'gavel_broadcast_draining',
    help: '1 while this replica drains its connections',
    registers: [registry],
    collect() {
      this.set(state.draining() ? 1 : 0);
    },
  });
  return {
    registry,
    eventsIn: new Counter({
      name: 'gavel_broadcast_events_received_total',
      help: 'Events received: live from NATS, by event type (source=nats), or from clients (source=client)',
      labelNames: ['source', 'type'],
      registers: [registry],
    }),
    eventsOut: new Counter({
      name: 'gavel_broadcast_deliveries_total',
      help: 'Frames delivered to clients of this replica, by event',
      labelNames: ['event'],
      registers: [registry],
    }),
    drops: new Counter({
      name: 'gavel_broadcast_drops_total',
      help: 'Events not delivered (duplicate, stale seq) and connections dropped (slow consumer)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    deliveryLag: new Histogram({
      name: 'gavel_broadcast_delivery_lag_seconds',
      help: "Time from an event's creation (its `at`, on the producer's clock) to its fan-out to this replica's connections",
      labelNames: ['type'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'gavel_broadcast_rejected_total',
      help: 'Client events refused, by error code',
      labelNames: ['code'],
      registers: [registry],
    }),
  };
}

export type BroadcastMetrics = ReturnType<typeof createBroadcastMetrics>;
