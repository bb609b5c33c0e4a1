import { Counter, Gauge, type Registry } from 'prom-client';

export type EchoProtocol = 'ws' | 'socket.io';

/** What the echo server counts: open connections, messages echoed and their bytes. */
export function createEchoMetrics(registry: Registry) {
  return {
    connections: new Gauge({
      name: 'gavel_latency_echo_connections',
      help: 'Open echo connections',
      labelNames: ['protocol'] as const,
      registers: [registry],
    }),
    messages: new Counter({
      name: 'gavel_latency_echo_messages_total',
      help: 'Messages echoed back',
      labelNames: ['protocol'] as const,
      registers: [registry],
    }),
    bytes: new Counter({
      name: 'gavel_latency_echo_bytes_total',
      help: 'Payload bytes echoed back',
      labelNames: ['protocol'] as const,
      registers: [registry],
    }),
  };
}

export type EchoMetrics = ReturnType<typeof createEchoMetrics>;
