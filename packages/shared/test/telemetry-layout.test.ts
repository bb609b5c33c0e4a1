import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * ES modules are instrumented through import-in-the-middle's loader hook, which the bootstrap
 * registers from its own copy; an instrumentation holding another copy registers its patches
 * where that hook never looks, and its module (ioredis) silently goes untraced. npm nests
 * copies when a lockfile merge places another version first (the platform's Pulumi carries an
 * old OpenTelemetry): then delete the lockfile's node_modules/@opentelemetry/* and
 * import-in-the-middle entries (not Pulumi's nested ones) and run `npm install`.
 */
describe('the tracing bootstrap and the instrumentations share one import-in-the-middle', () => {
  it('resolves to one copy from the bootstrap and from every instrumentation', () => {
    const fromShared = createRequire(new URL('../src/telemetry-register.ts', import.meta.url));
    const hook = fromShared.resolve('import-in-the-middle');
    const instrumentations = [
      '@opentelemetry/instrumentation-http',
      '@opentelemetry/instrumentation-ioredis',
      '@opentelemetry/instrumentation-pg',
      '@fastify/otel',
    ];
    for (const name of instrumentations) {
      const base = createRequire(fromShared.resolve(name));
      const instrumentation = createRequire(base.resolve('@opentelemetry/instrumentation'));
      expect(instrumentation.resolve('import-in-the-middle'), name).toBe(hook);
    }
    expect(dirname(hook)).toMatch(/node_modules\/import-in-the-middle$/);
  });
});
