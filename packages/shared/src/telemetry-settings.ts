import { z } from 'zod';
import { ConfigError } from './config.js';

/**
 * Whether and how a process exports traces, from the standard OpenTelemetry variables. The SDK
 * reads the rest itself (OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS and
 * _TIMEOUT, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_PROPAGATORS); these are the ones a
 * typo in would silently mean "no traces", so they are checked here first.
 *
 * Tracing is off unless an OTLP endpoint is set or OTEL_TRACES_EXPORTER asks for the console:
 * the SDK's own default (OTLP to localhost:4318) would send every span of every process to a
 * collector that is usually not there.
 */
export interface TelemetrySettings {
  readonly enabled: boolean;
  /** Why tracing is off, or where spans go, for the start log line. */
  readonly summary: string;
}

const PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
const EXPORTERS = ['otlp', 'console', 'none'] as const;
const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

const endpoint = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional();

const schema = z.object({
  OTEL_SDK_DISABLED: z.enum(['true', 'false'], { error: 'must be "true" or "false"' }).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpoint,
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(PROTOCOLS).optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z.enum(PROTOCOLS).optional(),
  OTEL_TRACES_EXPORTER: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const names = (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = names.filter((n) => !(EXPORTERS as readonly string[]).includes(n));
      if (bad.length > 0) {
        ctx.addIssue({ code: 'custom', message: `must be a list of ${EXPORTERS.join(', ')}` });
        return z.NEVER;
      }
      return names;
    }),
  OTEL_TRACES_SAMPLER: z.enum(SAMPLERS).optional(),
  OTEL_TRACES_SAMPLER_ARG: z
    .string()
    .regex(/^(0(\.\d+)?|1(\.0+)?)$/, 'must be a ratio from 0 to 1')
    .optional(),
});

export function telemetrySettings(env: NodeJS.ProcessEnv = process.env): TelemetrySettings {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') cleaned[key] = value;
  }
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = String(i.path[0]);
        return `${name}: ${i.message} (got ${JSON.stringify(cleaned[name]?.slice(0, 80))})`;
      }),
    );
  }
  const s = parsed.data;
  if (s.OTEL_SDK_DISABLED === 'true') return { enabled: false, summary: 'OTEL_SDK_DISABLED=true' };
  const named = s.OTEL_TRACES_EXPORTER;
  if (named.includes('none')) return { enabled: false, summary: 'OTEL_TRACES_EXPORTER=none' };
  const target = s.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? s.OTEL_EXPORTER_OTLP_ENDPOINT;
  // The SDK's default exporter is OTLP; unnamed, it counts only with an endpoint to go to.
  const exporters = named.length > 0 ? named : target ? ['otlp'] : [];
  if (exporters.length === 0) return { enabled: false, summary: 'no OTEL_EXPORTER_OTLP_ENDPOINT' };
  const protocol = s.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? s.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
  const sinks = exporters.map((e) =>
    e === 'console' ? 'console' : `OTLP ${protocol} to ${target ?? 'the default endpoint'}`,
  );
  return { enabled: true, summary: sinks.join(' and ') };
}
