import { createServer, type Server } from 'node:http';

/** One exported span, as the receiver decoded it (ids in hex, as trace viewers show them). */
export interface ReceivedSpan {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  readonly links: readonly { traceId: string; spanId: string }[];
}

/**
 * A minimal OTLP/HTTP trace receiver for tests: POST /v1/traces in http/json or http/protobuf,
 * decoded into spans. It stands where a collector would, so the services export exactly as
 * they would in production.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Content types seen, by service name. */
  readonly contentTypes = new Map<string, Set<string>>();
  private server: Server | undefined;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end();
          return;
        }
        try {
          const spans = type === 'application/x-protobuf' ? decodeProtobuf(body) : decodeJson(body);
          for (const span of spans) {
            this.spans.push(span);
            const seen = this.contentTypes.get(span.service) ?? new Set();
            seen.add(type);
            this.contentTypes.set(span.service, seen);
          }
          res.writeHead(200, { 'content-type': type }).end(type === 'application/json' ? '{}' : '');
        } catch (err) {
          res.writeHead(400).end(String(err));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// ---- http/json ---------------------------------------------------------------------------------

interface JsonAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
}
interface JsonKeyValue {
  key: string;
  value?: JsonAnyValue;
}

function jsonValue(v: JsonAnyValue | undefined): string | number | boolean {
  if (!v) return '';
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  return v.doubleValue ?? '';
}

function jsonAttributes(list: JsonKeyValue[] | undefined): Record<string, string | number | boolean> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, jsonValue(kv.value)]));
}

function decodeJson(body: Buffer): ReceivedSpan[] {
  const request = JSON.parse(body.toString('utf8')) as {
    resourceSpans?: Array<{
      resource?: { attributes?: JsonKeyValue[] };
      scopeSpans?: Array<{
        spans?: Array<{
          traceId: string;
          spanId: string;
          parentSpanId?: string;
          name: string;
          kind?: number;
          attributes?: JsonKeyValue[];
          links?: Array<{ traceId: string; spanId: string }>;
        }>;
      }>;
    }>;
  };
  return (request.resourceSpans ?? []).flatMap((rs) => {
    const service = String(jsonAttributes(rs.resource?.attributes)['service.name'] ?? '');
    return (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((s) => ({
        service,
        traceId: s.traceId,
        spanId: s.spanId,
        parentSpanId: s.parentSpanId ?? '',
        name: s.name,
        kind: s.kind ?? 0,
        attributes: jsonAttributes(s.attributes),
        links: (s.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
      })),
    );
  });
}

// ---- http/protobuf -----------------------------------------------------------------------------
// Just enough of the protobuf wire format for ExportTraceServiceRequest (opentelemetry-proto):
// every field read as (number, wire type, value), the messages picked apart by field number.

type Field = { n: number; bytes?: Buffer; int?: bigint };

function readVarint(buf: Buffer, at: { i: number }): bigint {
  let result = 0n;
  for (let shift = 0n; ; shift += 7n) {
    const b = buf[at.i++];
    if (b === undefined) throw new Error('truncated varint');
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return result;
  }
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  const at = { i: 0 };
  while (at.i < buf.length) {
    const key = Number(readVarint(buf, at));
    const n = key >>> 3;
    switch (key & 7) {
      case 0:
        out.push({ n, int: readVarint(buf, at) });
        break;
      case 1:
        out.push({ n, bytes: buf.subarray(at.i, at.i + 8) });
        at.i += 8;
        break;
      case 2: {
        const len = Number(readVarint(buf, at));
        out.push({ n, bytes: buf.subarray(at.i, at.i + len) });
        at.i += len;
        break;
      }
      case 5:
        out.push({ n, bytes: buf.subarray(at.i, at.i + 4) });
        at.i += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${key & 7}`);
    }
  }
  return out;
}

const sub = (fs: Field[], n: number) => fs.filter((f) => f.n === n && f.bytes).map((f) => f.bytes!);

function protoValue(buf: Buffer): string | number | boolean {
  const [f] = fields(buf);
  if (!f) return '';
  if (f.n === 1) return f.bytes!.toString('utf8');
  if (f.n === 2) return f.int === 1n;
  if (f.n === 3) return Number(f.int);
  if (f.n === 4) return f.bytes!.readDoubleLE(0);
  return '';
}

function protoAttributes(list: Buffer[]): Record<string, string | number | boolean> {
  return Object.fromEntries(
    list.map((kv) => {
      const fs = fields(kv);
      const value = sub(fs, 2)[0];
      return [sub(fs, 1)[0]?.toString('utf8') ?? '', value ? protoValue(value) : ''];
    }),
  );
}

function decodeProtobuf(body: Buffer): ReceivedSpan[] {
  return sub(fields(body), 1).flatMap((resourceSpans) => {
    const rs = fields(resourceSpans);
    const resource = sub(rs, 1)[0];
    const service = String(protoAttributes(resource ? sub(fields(resource), 1) : [])['service.name'] ?? '');
    return sub(rs, 2).flatMap((scopeSpans) =>
      sub(fields(scopeSpans), 2).map((span) => {
        const s = fields(span);
        const hex = (n: number) => sub(s, n)[0]?.toString('hex') ?? '';
        return {
          service,
          traceId: hex(1),
          spanId: hex(2),
          parentSpanId: hex(4),
          name: sub(s, 5)[0]?.toString('utf8') ?? '',
          kind: Number(s.find((f) => f.n === 6)?.int ?? 0n),
          attributes: protoAttributes(sub(s, 9)),
          links: sub(s, 13).map((link) => {
            const l = fields(link);
            return {
              traceId: sub(l, 1)[0]?.toString('hex') ?? '',
              spanId: sub(l, 2)[0]?.toString('hex') ?? '',
            };
          }),
        };
      }),
    );
  });
}
