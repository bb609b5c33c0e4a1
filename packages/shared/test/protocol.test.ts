import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { parse } from 'yaml';
import {
  ASYNCAPI_PATH,
  PAGE_PROTOCOL_PATH,
  buildAsyncApi,
  renderPageProtocol,
} from '../scripts/protocol-artifacts.js';
import {
  clientCommands,
  describeProblem,
  errorCodes,
  parseCommand,
  serverEvents,
  wsFrames,
  type AckOf,
  type ClientToServerEvents,
  type ServerToClientEvents,
} from '../src/protocol.js';

const PROTOCOL_MD = fileURLToPath(new URL('../../../docs/protocol.md', import.meta.url));

describe('the declared client protocol', () => {
  it('docs/asyncapi.yaml is the document the declarations generate (npm run protocol -w packages/shared)', () => {
    const committed = parse(readFileSync(ASYNCAPI_PATH, 'utf8')) as unknown;
    expect(committed).toEqual(JSON.parse(JSON.stringify(buildAsyncApi())));
  });

  it("the page's protocol.js is the module the declarations generate", () => {
    expect(readFileSync(PAGE_PROTOCOL_PATH, 'utf8')).toBe(renderPageProtocol());
  });

  it('the AsyncAPI document is an AsyncAPI 3 document whose every $ref resolves', () => {
    const doc = buildAsyncApi();
    expect(doc.asyncapi).toBe('3.0.0');
    const refs: string[] = [];
    const walk = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === '$ref' && typeof v === 'string') refs.push(v);
          else walk(v);
        }
      }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(50);
    for (const ref of refs) {
      const target = ref
        .slice(2)
        .split('/')
        .reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], doc);
      expect(target, ref).toBeDefined();
    }
    // Component keys are limited to letters, digits, '.', '-' and '_'.
    const components = (doc.components as { messages: Record<string, unknown> }).messages;
    for (const k of Object.keys(components)) expect(k).toMatch(/^[A-Za-z0-9._-]+$/);
    const names = Object.values(components).map((m) => (m as { name: string }).name);
    for (const name of [
      ...Object.keys(clientCommands),
      ...Object.keys(serverEvents),
      ...Object.keys(wsFrames),
    ]) {
      expect(names).toContain(name);
    }
  });

  it('docs/protocol.md names every event, frame and error code', () => {
    const text = readFileSync(PROTOCOL_MD, 'utf8');
    for (const name of [
      ...Object.keys(clientCommands),
      ...Object.keys(serverEvents),
      ...Object.keys(wsFrames).map((t) => `"type":"${t}"`),
      ...Object.keys(errorCodes),
    ]) {
      expect(text, name).toContain(name);
    }
  });

  it('refuses bad payloads with one sentence naming the field', () => {
    expect(parseCommand('chat:send', { roomId: 'r' })).toEqual({ ok: false, message: '"text" is required' });
    expect(parseCommand('item:watch', 'item1')).toEqual({
      ok: false,
      message: 'the payload must be a JSON object',
    });
    expect(parseCommand('dm:send', { to: 'bob', text: 'x'.repeat(2001) })).toEqual({
      ok: false,
      message: '"text" must be at most 2000 characters',
    });
    expect(parseCommand('chat:send', { text: 'ok\tfine\nhere' })).toMatchObject({ ok: true });
    expect(parseCommand('chat:send', { text: 'not\u001bok' })).toMatchObject({ ok: false });
    for (const reqId of [{}, 'x'.repeat(129), true]) {
      const parsed = wsFrames.rooms.frame.safeParse({ type: 'rooms', reqId });
      expect(parsed.success || describeProblem(parsed.error)).toBe(
        '"reqId" must be a string of at most 128 characters, or a number',
      );
    }
  });

  it('types Socket.IO events and acks from the same declarations', () => {
    expectTypeOf<Parameters<ClientToServerEvents['chat:send']>[0]>().toEqualTypeOf<{
      roomId?: string | undefined;
      text: string;
      clientMsgId?: string | undefined;
    }>();
    expectTypeOf<Parameters<ServerToClientEvents['bid']>[0]['seq']>().toEqualTypeOf<number>();
    type JoinAck = AckOf<'room:join'>;
    expectTypeOf<Extract<JoinAck, { ok: false }>['code']>().toEqualTypeOf<keyof typeof errorCodes>();
  });
});
