import type { IncomingMessage } from 'node:http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { FastifyOtelInstrumentation } from '@fastify/otel';

/** Probes and scrapes: a span for each would bury the requests worth reading. */
const OPS_PATHS = new Set(['/livez', '/readyz', '/metrics', '/health']);

const isOpsPath = (url: string | undefined) => OPS_PATHS.has((url ?? '').split('?')[0] ?? '');

/**
 * Starts the OpenTelemetry Node SDK with the instrumentations of what Gavel's services use. The
 * SDK takes exporter, protocol, sampler and batch delays from the OTEL_* variables. Metrics stay
 * with prom-client (/metrics) and logs with pino: the SDK exports traces only.
 */
export function startTracing(serviceName: string): NodeSDK {
  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME, when set, names the service instead.
    ...(process.env.OTEL_SERVICE_NAME ? {} : { serviceName }),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req: IncomingMessage) => isOpsPath(req.url),
        // Only requests made on behalf of something traced (no exporter or probe noise).
        requireParentforOutgoingSpans: true,
      }),
      // Fastify's own instrumentation (the contrib one stops at Fastify 4): a span per request,
      // its route and hooks, attached to every Fastify instance as it is created.
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        ignorePaths: ({ url }) => isOpsPath(url),
      }),
      // Background loops (relay polling, presence, retention) would each start a trace a second.
      new IORedisInstrumentation({ requireParentSpan: true }),
      new PgInstrumentation({ requireParentSpan: true }),
    ],
  });
  sdk.start();
  return sdk;
}
