import { Counter, Gauge, type Registry } from 'prom-client';
import { createRegistry } from '@gavel/shared';
import type { LocalConnections } from './connections.js';

/** The gateway's Prometheus metrics, on a registry of its own. */
export function createBroadcastMetrics(
  local: LocalConnections,
  state: { draining: () => boolean; itemFeeds: () => number },
) {
  const registry: Registry = createRegistry('broadcast');
  new Gauge({
    name: 'broadcast_connections',
    help: 'Open client connections by transport',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      this.set({ transport: 'socketio' }, local.count('socketio'));
      this.set({ transport: 'ws' }, local.count('ws'));
    },
  });
  new Gauge({
    name: 'broadcast_rooms',
    help: 'Chat rooms with at least one local member',
    registers: [registry],
    collect() {
      this.set(local.roomCount());
    },
  });
  new Gauge({
    name: 'broadcast_item_feeds',
    help: 'Items with a live feed on this replica',
    registers: [registry],
    collect() {
      this.set(state.itemFeeds());
    },
  });
  new Gauge({
    name: 'broadcast_draining',
    help: '1 while this replica drains its connections',
    registers: [registry],
    collect() {
      this.set(state.draining() ? 1 : 0);
    },
  });
  return {
    registry,
    eventsIn: new Counter({
      name: 'broadcast_events_in_total',
      help: 'Events received: from NATS (source=nats) or from clients (source=client)',
      labelNames: ['source', 'type'],
      registers: [registry],
    }),
    eventsOut: new Counter({
      name: 'broadcast_events_out_total',
      help: 'Events delivered to clients of this replica',
      labelNames: ['event'],
      registers: [registry],
    }),
    recoveries: new Counter({
      name: 'broadcast_recoveries_total',
      help: 'Socket.IO reconnections by whether the session was recovered',
      labelNames: ['result'],
      registers: [registry],
    }),
    drops: new Counter({
      name: 'broadcast_drops_total',
      help: 'Events not delivered (duplicate, stale seq) and connections dropped (slow consumer)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'broadcast_rejected_total',
      help: 'Client events refused, by error code',
      labelNames: ['code'],
      registers: [registry],
    }),
  };
}

export type BroadcastMetrics = ReturnType<typeof createBroadcastMetrics>;
