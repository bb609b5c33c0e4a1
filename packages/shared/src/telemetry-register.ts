/**
 * Tracing bootstrap, loaded ahead of a service with `node --import @gavel/shared/telemetry`.
 * It must run before the service's modules load: the instrumentations patch ioredis, pg and
 * http as they are first imported, and for ES modules that takes a loader hook
 * (import-in-the-middle), registered here, which only wraps the modules an instrumentation asked
 * for. With tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT, no console exporter) it registers
 * nothing and loads nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { register } from 'node:module';
import { dirname, join } from 'node:path';
import { ConfigError } from './config.js';
import { telemetrySettings, type TelemetrySettings } from './telemetry-settings.js';

/** "api" for services/api/dist/main.js: the name of the entry's package, without its scope. */
function serviceNameOf(entry: string | undefined): string {
  for (let dir = entry ? dirname(entry) : process.cwd(); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const name = (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name;
      return name?.replace(/^@[^/]+\//, '') || 'gavel';
    }
    if (dirname(dir) === dir) return 'gavel';
  }
}

let settings: TelemetrySettings;
try {
  settings = telemetrySettings();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`telemetry: ${err.message}`);
  process.exit(2);
}

if (settings.enabled) {
  const { createAddHookMessageChannel } = await import('import-in-the-middle');
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
  const { startTracing } = await import('./telemetry-sdk.js');
  const service = serviceNameOf(process.argv[1]);
  startTracing(service);
  // The loader thread must know every module to wrap before the first of them is imported.
  await waitForAllMessagesAcknowledged();
  console.error(`telemetry: ${process.env.OTEL_SERVICE_NAME ?? service} traces to ${settings.summary}`);
}
