import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One registry per service instance (not prom-client's global one), so that several instances
 * can live in one test process without their metrics colliding.
 */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}
