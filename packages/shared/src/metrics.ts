import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One registry per service instance (not prom-client's global one), so that several instances
 * can live in one test process without their metrics colliding. Every series is labelled with
 * its service (and whatever `labels` add, e.g. a broadcast replica's colour). Gavel's own
 * metrics are named `gavel_<service>_…` with their unit last (`_seconds`, `_bytes`, `_total`);
 * the client's default metrics (`process_*`, `nodejs_*`: CPU, memory, event-loop lag, GC) keep
 * their standard names, which the usual Node.js dashboards expect.
 */
export function createRegistry(service: string, labels: Readonly<Record<string, string>> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service, ...labels });
  collectDefaultMetrics({ register: registry });
  return registry;
}
