import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

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

/** GET /livez, /readyz and /metrics, the same on every service. */
export function registerOpsRoutes(app: FastifyInstance, options: OpsRoutesOptions): void {
  const timeout = options.checkTimeoutMs ?? 1000;
  app.get('/livez', { logLevel: 'silent' }, async () => ({ ok: true }));
  app.get('/readyz', { logLevel: 'silent' }, async (_req, reply) => {
    if (options.isDraining?.()) return reply.code(503).send({ ok: false, draining: true });
    const result = await runChecks(options.checks, timeout);
    return reply.code(result.ok ? 200 : 503).send(result);
  });
  app.get('/metrics', { logLevel: 'silent' }, async (_req, reply) => {
    const body = await options.registry.metrics();
    return reply.type(options.registry.contentType).send(body);
  });
}
