import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type TextMapGetter,
} from '@opentelemetry/api';
import { headers as natsHeaders, type MsgHdrs } from 'nats';

/**
 * The hops no instrumentation covers: the outbox entry, the JetStream publish and the consumers
 * (broadcast's delivery, archival's batch). HTTP, Fastify, ioredis and pg are traced by their
 * instrumentations (telemetry-sdk.ts). Everything here goes through @opentelemetry/api alone:
 * without the SDK (tracing off) each call is a no-op and no header or field is added.
 *
 * Span names carry the event type, not the subject: subjects hold ids, and a name must group.
 */

const tracer = () => trace.getTracer('gavel');

/** The W3C trace-context fields of `ctx` ({} when tracing is off or nothing is traced). */
function carrierOf(ctx: Context): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/**
 * The `traceparent` of the active context, stored in an outbox entry beside the event, so that
 * whichever relay publishes the entry (after a crash too) continues the request's trace.
 * '' when there is nothing to carry.
 */
export function outboxTraceparent(ctx: Context = context.active()): string {
  return carrierOf(ctx).traceparent ?? '';
}

/** The context an outbox entry's `traceparent` names (undefined: none, or not a valid one). */
export function contextOfTraceparent(traceparent: string | undefined): Context | undefined {
  if (!traceparent) return undefined;
  const ctx = propagation.extract(ROOT_CONTEXT, { traceparent });
  return trace.getSpanContext(ctx) ? ctx : undefined;
}

const headerGetter: TextMapGetter<MsgHdrs> = {
  get: (h, key) => (h.has(key) ? h.get(key) : undefined),
  keys: (h) => h.keys(),
};

/** The trace context a NATS message carries in its headers, if any. */
export function contextOfHeaders(h: MsgHdrs | undefined): Context | undefined {
  if (!h?.has('traceparent')) return undefined;
  const ctx = propagation.extract(ROOT_CONTEXT, h, headerGetter);
  return trace.getSpanContext(ctx) ? ctx : undefined;
}

function messaging(operation: 'send' | 'process', subject: string, attributes: Attributes): Attributes {
  return {
    'messaging.system': 'nats',
    'messaging.operation.type': operation,
    'messaging.destination.name': subject,
    ...attributes,
  };
}

function endWith(span: Span, error: unknown, attributes?: Attributes): void {
  if (attributes) span.setAttributes(attributes);
  if (error !== undefined) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/** One traced JetStream publish: the headers to send with it, and its end. */
export interface TracedPublish {
  /** The trace context for the message's headers; undefined when there is none to carry. */
  readonly headers: MsgHdrs | undefined;
  end(error?: unknown, attributes?: Attributes): void;
}

/**
 * Starts the span of one JetStream publish, a child of `parent` (by default the active
 * context), with the NATS headers that carry it to the consumers.
 */
export function startPublish(
  eventType: string,
  subject: string,
  attributes: Attributes = {},
  parent: Context = context.active(),
): TracedPublish {
  const span = tracer().startSpan(
    `publish ${eventType}`,
    { kind: SpanKind.PRODUCER, attributes: messaging('send', subject, attributes) },
    parent,
  );
  const carrier = carrierOf(trace.setSpan(parent, span));
  const names = Object.keys(carrier);
  let h: MsgHdrs | undefined;
  if (names.length > 0) {
    h = natsHeaders();
    for (const name of names) h.set(name, carrier[name]!);
  }
  return { headers: h, end: (error, attrs) => endWith(span, error, attrs) };
}

/**
 * Runs `fn` in the span of handling one received message, a child of the context it carried
 * (`parent` undefined: no span, `fn` runs as it is). Spans started inside descend from it.
 */
export function inMessageSpan<T>(
  name: string,
  subject: string,
  parent: Context | undefined,
  attributes: Attributes,
  fn: () => T,
): T {
  if (!parent) return fn();
  const span = tracer().startSpan(
    name,
    { kind: SpanKind.CONSUMER, attributes: messaging('process', subject, attributes) },
    parent,
  );
  try {
    return context.with(trace.setSpan(parent, span), fn);
  } catch (err) {
    endWith(span, err);
    throw err;
  } finally {
    if (span.isRecording()) span.end();
  }
}

/** A span left open across an asynchronous step, such as a message waiting for its batch. */
export interface OpenSpan {
  end(error?: unknown, attributes?: Attributes): void;
}

const NO_SPAN: OpenSpan = { end() {} };

/** Starts (and leaves open) the span of handling one received message; see inMessageSpan. */
export function startMessageSpan(
  name: string,
  subject: string,
  parent: Context | undefined,
  attributes: Attributes = {},
): OpenSpan {
  if (!parent) return NO_SPAN;
  const span = tracer().startSpan(
    name,
    { kind: SpanKind.CONSUMER, attributes: messaging('process', subject, attributes) },
    parent,
  );
  return { end: (error, attrs) => endWith(span, error, attrs) };
}

/**
 * Runs `fn` in a new root span linked to every message context of a batch (a batch has no one
 * parent). Database spans of the instrumentations inside `fn` become its children.
 */
export async function inBatchSpan<T>(
  name: string,
  messages: readonly (Context | undefined)[],
  attributes: Attributes,
  fn: () => Promise<T>,
): Promise<T> {
  const links: Link[] = [];
  for (const ctx of messages) {
    const spanContext = ctx && trace.getSpanContext(ctx);
    if (spanContext) links.push({ context: spanContext });
  }
  // Nothing traced in the batch: no span (the pg instrumentation then records nothing either).
  if (links.length === 0) return fn();
  return tracer().startActiveSpan(
    name,
    {
      kind: SpanKind.CONSUMER,
      links,
      attributes: {
        'messaging.system': 'nats',
        'messaging.batch.message_count': messages.length,
        ...attributes,
      },
    },
    ROOT_CONTEXT,
    async (span) => {
      try {
        const result = await fn();
        span.end();
        return result;
      } catch (err) {
        endWith(span, err);
        throw err;
      }
    },
  );
}

/**
 * Runs `fn` (one Redis script call) in a client span of its own, a child of the active span;
 * no span when nothing is traced, as the ioredis instrumentation is set up. Why by hand: the
 * api's client auto-pipelines, and the instrumentation parents every command of a pipeline to
 * the context of the command that opened it, so a bid's script could land in another request's
 * trace (or, opened by a background loop, in none).
 */
export async function inRedisSpan<T>(
  operation: string,
  attributes: Attributes,
  fn: () => Promise<T>,
): Promise<T> {
  const parent = context.active();
  if (!trace.getSpan(parent)) return fn();
  const span = tracer().startSpan(
    `redis ${operation}`,
    {
      kind: SpanKind.CLIENT,
      attributes: { 'db.system.name': 'redis', 'db.operation.name': operation, ...attributes },
    },
    parent,
  );
  try {
    const result = await context.with(trace.setSpan(parent, span), fn);
    span.end();
    return result;
  } catch (err) {
    endWith(span, err);
    throw err;
  }
}

/**
 * Exports the spans still buffered. Called on shutdown, before the process exits, so that the
 * last requests' spans are not lost. Resolves at once when tracing is off.
 */
export async function flushTraces(): Promise<void> {
  const provider = trace.getTracerProvider() as { getDelegate?: () => unknown };
  const sdk = provider.getDelegate?.() as { forceFlush?: () => Promise<void> } | undefined;
  await sdk?.forceFlush?.().catch(() => undefined);
}

/** A trace context as the helpers above take and return it. */
export type TraceContext = Context;
