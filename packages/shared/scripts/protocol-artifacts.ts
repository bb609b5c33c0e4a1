import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { stringify } from 'yaml';
import { MAX_TEXT_LENGTH } from '../src/events.js';
import {
  MAX_FRAME_BYTES,
  clientCommands,
  errorCodes,
  serverEvents,
  socketAuthSchema,
  wsFrames,
  wsQuerySchema,
  wsReplyFrames,
} from '../src/protocol.js';

/**
 * What is generated from the protocol declarations (src/protocol.ts): docs/asyncapi.yaml and the
 * web page's services/api/public/protocol.js. Run `npm run protocol -w packages/shared` after
 * changing them; test/protocol.test.ts fails while a committed file and the declarations disagree.
 */

export const ASYNCAPI_PATH = fileURLToPath(new URL('../../../docs/asyncapi.yaml', import.meta.url));
export const PAGE_PROTOCOL_PATH = fileURLToPath(
  new URL('../../../services/api/public/protocol.js', import.meta.url),
);

type Json = Record<string, unknown>;

/** AsyncAPI component keys allow letters, digits, `.`, `-` and `_`. */
const key = (name: string) => name.replaceAll(':', '.');

function schema(s: z.ZodType, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}

/** A `/ws` frame: the payload's fields plus `type`. */
function withType(type: string, s: z.ZodType, io: 'input' | 'output'): Json {
  const base = schema(s, io);
  const properties = {
    type: { type: 'string', const: type },
    ...((base.properties as Json | undefined) ?? {}),
  };
  const required = ['type', ...((base.required as string[] | undefined) ?? [])];
  return { ...base, type: 'object', properties, required };
}

const ref = (path: string) => ({ $ref: path });

export function buildAsyncApi(): Json {
  const messages: Json = {};
  const operations: Json = {};
  const sioMessages: Json = {};
  const wsMessages: Json = {};
  const sioChannel = ref('#/channels/socketio');
  const wsChannel = ref('#/channels/ws');

  const ackError = {
    type: 'object',
    properties: {
      ok: { type: 'boolean', const: false },
      error: {
        type: 'string',
        enum: Object.keys(errorCodes),
        description: 'the stable code (also in `code`)',
      },
      code: { type: 'string', enum: Object.keys(errorCodes) },
      message: { type: 'string', description: 'for humans; names the field as the client spelled it' },
    },
    required: ['ok', 'error', 'code', 'message'],
  };

  for (const [name, spec] of Object.entries(clientCommands)) {
    const k = key(name);
    const result = schema(spec.result, 'output');
    messages[`sio.in.${k}`] = { name, title: name, payload: schema(spec.payload, 'input') };
    messages[`sio.in.${k}.ack`] = {
      name: `${name} ack`,
      payload: {
        oneOf: [
          {
            ...result,
            properties: { ok: { type: 'boolean', const: true }, ...((result.properties as Json) ?? {}) },
            required: ['ok', ...((result.required as string[] | undefined) ?? [])],
          },
          ackError,
        ],
      },
    };
    sioMessages[`sio.in.${k}`] = ref(`#/components/messages/sio.in.${k}`);
    sioMessages[`sio.in.${k}.ack`] = ref(`#/components/messages/sio.in.${k}.ack`);
    operations[`sio.in.${k}`] = {
      action: 'receive',
      channel: sioChannel,
      summary: `client → server \`${name}\`, answered by its ack`,
      messages: [ref(`#/channels/socketio/messages/sio.in.${k}`)],
      reply: { channel: sioChannel, messages: [ref(`#/channels/socketio/messages/sio.in.${k}.ack`)] },
    };
  }
  for (const [name, payload] of Object.entries(serverEvents)) {
    const k = key(name);
    messages[`sio.out.${k}`] = { name, title: name, payload: schema(payload, 'output') };
    messages[`ws.out.${k}`] = { name, title: `${name} frame`, payload: withType(name, payload, 'output') };
    sioMessages[`sio.out.${k}`] = ref(`#/components/messages/sio.out.${k}`);
    wsMessages[`ws.out.${k}`] = ref(`#/components/messages/ws.out.${k}`);
    operations[`sio.out.${k}`] = {
      action: 'send',
      channel: sioChannel,
      summary: `server → client \`${name}\``,
      messages: [ref(`#/channels/socketio/messages/sio.out.${k}`)],
    };
    operations[`ws.out.${k}`] = {
      action: 'send',
      channel: wsChannel,
      summary: `server → client frame \`{"type":"${name}", …}\``,
      messages: [ref(`#/channels/ws/messages/ws.out.${k}`)],
    };
  }
  for (const [type, spec] of Object.entries(wsFrames)) {
    const k = key(type);
    messages[`ws.in.${k}`] = {
      name: type,
      title: `${type} frame (→ ${spec.command})`,
      payload: withType(type, spec.frame, 'input'),
    };
    wsMessages[`ws.in.${k}`] = ref(`#/components/messages/ws.in.${k}`);
    operations[`ws.in.${k}`] = {
      action: 'receive',
      channel: wsChannel,
      summary: `client → server frame \`{"type":"${type}", …}\`, as \`${spec.command}\`; answered by \`ack\` (or \`rooms\`) or \`error\``,
      messages: [ref(`#/channels/ws/messages/ws.in.${k}`)],
      reply: {
        channel: wsChannel,
        messages: [
          ref(`#/channels/ws/messages/ws.out.${type === 'rooms' ? 'rooms' : 'ack'}`),
          ref('#/channels/ws/messages/ws.out.error'),
        ],
      },
    };
  }
  for (const [type, payload] of Object.entries(wsReplyFrames)) {
    messages[`ws.out.${type}`] = {
      name: type,
      title: `${type} frame`,
      payload: withType(type, payload, 'output'),
    };
    wsMessages[`ws.out.${type}`] = ref(`#/components/messages/ws.out.${type}`);
  }
  operations['ws.out.welcome'] = {
    action: 'send',
    channel: wsChannel,
    summary: 'the first frame of every connection',
    messages: [ref('#/channels/ws/messages/ws.out.welcome')],
  };

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Gavel realtime gateway (broadcast)',
      version: '1.0.0',
      description:
        'Generated from packages/shared/src/protocol.ts (do not edit by hand). Socket.IO on /socket.io ' +
        "and seed 003's plain-WebSocket JSON protocol on /ws carry the same events. See docs/protocol.md.",
    },
    defaultContentType: 'application/json',
    servers: {
      local: { host: '127.0.0.1:8081', protocol: 'ws', description: 'npm start' },
    },
    channels: {
      socketio: {
        address: '/socket.io',
        title: 'Socket.IO',
        description:
          `Handshake \`auth\` (below); a bad token is refused with connect_error "unauthorized". Every ` +
          `client event takes an ack. Frames are at most ${MAX_FRAME_BYTES} bytes.`,
        messages: sioMessages,
        bindings: { ws: { query: schema(socketAuthSchema, 'input'), bindingVersion: '0.1.0' } },
      },
      ws: {
        address: '/ws',
        title: 'plain WebSocket (JSON text frames)',
        description:
          'Query string below; a bad token is HTTP 401, a userId other than the token subject 403, a bad ' +
          `value 400. Every frame may carry \`reqId\`, echoed in its answer. Frames are at most ${MAX_FRAME_BYTES} bytes.`,
        messages: wsMessages,
        bindings: { ws: { query: schema(wsQuerySchema, 'input'), bindingVersion: '0.1.0' } },
      },
    },
    operations,
    components: { messages },
  };
}

export function renderAsyncApi(): string {
  return `# Generated by packages/shared/scripts/protocol-artifacts.ts from src/protocol.ts: do not edit.\n${stringify(buildAsyncApi(), { lineWidth: 0, aliasDuplicateObjects: false })}`;
}

/** A JSDoc type for a JSON Schema of the shapes the protocol uses. */
function jsdocType(s: Json): string {
  if (Array.isArray(s.anyOf)) return (s.anyOf as Json[]).map(jsdocType).join(' | ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (Array.isArray(s.type)) return (s.type as string[]).map((type) => jsdocType({ ...s, type })).join(' | ');
  if (Array.isArray(s.enum)) return (s.enum as unknown[]).map((v) => JSON.stringify(v)).join(' | ');
  switch (s.type) {
    case 'string':
      return 'string';
    case 'number':
    case 'integer':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      return `Array<${jsdocType((s.items as Json | undefined) ?? {})}>`;
    case 'object': {
      const required = new Set((s.required as string[] | undefined) ?? []);
      const props = Object.entries((s.properties as Record<string, Json> | undefined) ?? {}).map(
        ([k, v]) => `${k}${required.has(k) ? '' : '?'}: ${jsdocType(v)}`,
      );
      return `{ ${props.join(', ')} }`;
    }
    default:
      return '*';
  }
}

const typeName = (name: string) =>
  name
    .split(/[:_-]/)
    .map((w) => (w[0] ?? '').toUpperCase() + w.slice(1))
    .join('');

/** services/api/public/protocol.js: the declarations the page needs, as a plain ES module with JSDoc. */
export function renderPageProtocol(): string {
  const lines = [
    '// Generated by packages/shared/scripts/protocol-artifacts.ts from packages/shared/src/protocol.ts:',
    '// do not edit. The page reads event names, limits and error codes here; the types are for editors.',
    '',
  ];
  for (const [name, payload] of Object.entries(serverEvents)) {
    lines.push(`/** @typedef {${jsdocType(schema(payload, 'output'))}} ${typeName(name)}Event */`);
  }
  for (const [name, spec] of Object.entries(clientCommands)) {
    lines.push(`/** @typedef {${jsdocType(schema(spec.payload, 'input'))}} ${typeName(name)}Payload */`);
    lines.push(`/** @typedef {${jsdocType(schema(spec.result, 'output'))}} ${typeName(name)}Result */`);
  }
  lines.push(
    '',
    '/** Server → client event names. */',
    `export const SERVER_EVENTS = Object.freeze(${JSON.stringify(Object.keys(serverEvents))});`,
    '/** Client → server event names (each answered by an ack). */',
    `export const CLIENT_COMMANDS = Object.freeze(${JSON.stringify(Object.keys(clientCommands))});`,
    '/** Stable error codes of refused commands, with what they mean. */',
    `export const ERROR_CODES = Object.freeze(${JSON.stringify(errorCodes, null, 2)});`,
    `export const MAX_TEXT_LENGTH = ${MAX_TEXT_LENGTH};`,
    '',
  );
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(ASYNCAPI_PATH, renderAsyncApi());
  writeFileSync(PAGE_PROTOCOL_PATH, renderPageProtocol());
  console.log(`wrote ${ASYNCAPI_PATH} and ${PAGE_PROTOCOL_PATH}`);
}
