import type { FastifyInstance, FastifySchema } from 'fastify';
import { Histogram, type Registry } from 'prom-client';

/** A dependency check: resolves when the dependency answers, rejects (or times out) when not. */
export type ReadinessCheck = () => Promise<unknown>;

export interface OpsRoutesOptions {
  readonly registry: Registry;
  /** Checked by /readyz (and by the api's /health). */
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
  /** Turns /readyz false while the process drains, before it stops accepting work. */
  readonly isDraining?: () => boolean;
  /** @default 1000 */
  readonly checkTimeoutMs?: number;
  /** Route schemas, for a service that documents its routes (its compilers must read them). */
  readonly schemas?: Readonly<Partial<Record<'livez' | 'readyz' | 'metrics', FastifySchema>>>;
}

export type CheckReport = Record<string, { ok: boolean; error?: string; ms: number }>;

export async function runChecks(
  checks: Readonly<Record<string, ReadinessCheck>>,
  timeoutMs = 1000,
): Promise<{ ok: boolean; checks: CheckReport }> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        return [name, { ok: true, ms: Math.round(performance.now() - started) }] as const;
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        return [name, { ok: false, error, ms: Math.round(performance.now() - started) }] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const report: CheckReport = Object.fromEntries(entries);
  return { ok: entries.every(([, r]) => r.ok), checks: report };
}

/**
 * A request duration histogram per route (the route's pattern, never the raw URL: ids would
 * make a series per item), method and status, on every Fastify service.
 */
function countRequests(app: FastifyInstance, registry: Registry): void {
  const duration = new Histogram({
    name: 'gavel_http_request_duration_seconds',
    help: 'HTTP requests by route pattern, method and status code, from arrival to the last byte of the reply',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  app.addHook('onResponse', (request, reply, done) => {
    duration.observe(
      {
        method: request.method,
        // No route matched (a 404): one series for all of them.
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
    done();
  });
}

/** GET /livez, /readyz and /metrics, the same on every service, and the request histogram. */
export function registerOpsRoutes(app: FastifyInstance, options: OpsRoutesOptions): void {
  const timeout = options.checkTimeoutMs ?? 1000;
  countRequests(app, options.registry);
  const route = (name: 'livez' | 'readyz' | 'metrics') => {
    const schema = options.schemas?.[name];
    return { logLevel: 'silent' as const, ...(schema ? { schema } : {}) };
  };
  app.get('/livez', route('livez'), async () => ({ ok: true }));
  app.get('/readyz', route('readyz'), async (_req, reply) => {
    if (options.isDraining?.()) return reply.code(503).send({ ok: false, draining: true });
    const result = await runChecks(options.checks, timeout);
    return reply.code(result.ok ? 200 : 503).send(result);
  });
  app.get('/metrics', route('metrics'), async (_req, reply) => {
    const body = await options.registry.metrics();
    return reply.type(options.registry.contentType).send(body);
  });
}
