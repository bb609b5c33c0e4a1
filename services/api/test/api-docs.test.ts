import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { compileErrors, validate } from '@readme/openapi-parser';
import { migrate } from '@gavel/archival/migrate';
import { createTestDatabase, type TestDatabase } from '@gavel/shared/testing';
import { TEST_SECRET, cleanupNames, http, startApi, testNames, type TestApi } from './helpers.js';

/**
 * The OpenAPI document at /docs/json against the api that serves it: a valid OpenAPI 3.1
 * document, every registered route in it with its answers and error bodies, and real answers
 * matching what it says.
 */

interface Operation {
  readonly parameters?: readonly { readonly in: string; readonly name: string }[];
  readonly requestBody?: { readonly content: Record<string, { readonly schema?: object }> };
  readonly responses: Record<string, { readonly content?: Record<string, { readonly schema?: JsonSchema }> }>;
}
interface JsonSchema {
  readonly type?: string;
  readonly properties?: Record<string, unknown>;
  readonly required?: readonly string[];
}
interface OpenApiDocument {
  readonly openapi: string;
  readonly paths: Record<string, Record<string, Operation>>;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/**
 * Every route Fastify has, as "METHOD /path/{param}", read from its printed route tree (each line
 * a path segment, indented four columns per level, with the methods that end there).
 */
function registeredRoutes(tree: string): string[] {
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const branch = line.search(/[├└]── /);
    if (branch < 0) continue;
    const depth = branch / 4;
    const match = /^(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line.slice(branch + 4));
    stack.length = depth;
    stack.push(match?.[1] ?? '');
    const path = stack.join('');
    for (const method of (match?.[2] ?? '').split(', ').filter(Boolean)) {
      routes.push(`${method} ${path.startsWith('/') ? path : `/${path}`}`.replace(/:(\w+)/g, '{$1}'));
    }
  }
  return routes;
}

describe('API docs', () => {
  const names = testNames();
  let db: TestDatabase;
  let api: TestApi;
  let doc: OpenApiDocument;

  beforeAll(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    api = await startApi(names, {
      DATABASE_URL: db.url,
      AUTH_MODE: 'jwt',
      AUTH_SECRET: TEST_SECRET,
      DEV_TOKENS: 'true',
      AUTO_OPEN_ITEMS: 'true',
    });
    const res = await fetch(`${api.url}/docs/json`);
    expect(res.status).toBe(200);
    doc = (await res.json()) as OpenApiDocument;
  });
  afterAll(async () => {
    await api?.close();
    await db?.drop();
    await cleanupNames(names);
  });

  it('is a valid OpenAPI 3.1 document, with a UI at /docs', async () => {
    expect(doc.openapi).toBe('3.1.0');
    // The validator resolves references in place: it gets a copy.
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);

    const ui = await fetch(`${api.url}/docs`);
    expect(ui.status).toBe(200);
    const html = await ui.text();
    expect(html).toContain('swagger-ui');
    // The UI loads as files only: it runs under the same content security policy as the page.
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    const initializer = await fetch(`${api.url}/docs/static/swagger-initializer.js`);
    expect(initializer.status).toBe(200);
    expect(await initializer.text()).toContain('./json');
  });

  it('documents every route the api registers, each with its answers and error bodies', () => {
    const tree = api.api.app.printRoutes({ commonPrefix: false });
    const expected = registeredRoutes(tree).filter(
      (route) =>
        !route.startsWith('HEAD ') &&
        // The page's files and the docs' own files are not API.
        !/^GET \/(\*)?$/.test(route) &&
        !/^GET \/docs\b/.test(route),
    );
    // The parse found the routes (a changed print format must not make this pass empty).
    expect(expected).toContain('POST /api/v1/items/{id}/bid');
    expect(expected).toContain('GET /api/v1/items/{id}/bids');
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops)
        .filter((m) => METHODS.includes(m))
        .map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual([...new Set(expected)].sort());

    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method.toUpperCase()} ${path}`;
        const statuses = Object.keys(op.responses);
        const success = statuses.filter((s) => /^2\d\d$/.test(s));
        expect(success, where).toHaveLength(1);
        const ok = op.responses[success[0]!]!.content;
        expect(ok && Object.values(ok)[0]?.schema, `${where} ${success[0]}`).toBeTruthy();
        // Path parameters are declared.
        for (const [, name] of path.matchAll(/\{(\w+)\}/g)) {
          expect(
            op.parameters?.some((p) => p.in === 'path' && p.name === name),
            `${where} {${name}}`,
          ).toBe(true);
        }
        // Input is validated, so it can be refused: each route documents its 400 or has no input.
        const takesInput = Boolean(op.requestBody) || (op.parameters?.length ?? 0) > 0;
        expect(statuses.includes('400'), `${where} 400`).toBe(takesInput);
        // Every error status has the {error, message} body; a probe's 503 is its report instead.
        const probe = path === '/health' || path === '/readyz';
        for (const status of statuses.filter((s) => /^[45]\d\d$/.test(s) && !(probe && s === '503'))) {
          const schema = op.responses[status]!.content?.['application/json']?.schema;
          expect(schema?.required, `${where} ${status}`).toEqual(
            expect.arrayContaining(['error', 'message']),
          );
          expect(Object.keys(schema?.properties ?? {}), `${where} ${status}`).toEqual(
            expect.arrayContaining(['error', 'message']),
          );
        }
      }
    }
  });

  it('answers as it documents', async () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
    const checked = new Set<string>();
    /** Calls the api and checks the answer against the documented schema of its status. */
    async function call(
      method: string,
      path: string,
      route: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ) {
      const res = await http(api.url, method, path, body, headers);
      const documented = doc.paths[route]?.[method.toLowerCase()]?.responses[String(res.status)];
      expect(documented, `${method} ${route} answered ${res.status}, which is not documented`).toBeDefined();
      const schema = documented?.content?.['application/json']?.schema;
      expect(schema, `${method} ${route} ${res.status}`).toBeDefined();
      const check = ajv.compile(schema as object);
      expect(check(res.body), `${method} ${route} ${res.status}: ${ajv.errorsText(check.errors)}`).toBe(true);
      checked.add(`${method} ${route} ${res.status}`);
      return res;
    }

    const token = (await call('POST', '/api/v1/dev/token', '/api/v1/dev/token', { userId: 'docs_user' })).body
      .token as string;
    const auth = { authorization: `Bearer ${token}` };
    await call('POST', '/api/v1/dev/token', '/api/v1/dev/token', { userId: 'no spaces allowed' });
    const created = await call(
      'POST',
      '/api/v1/items',
      '/api/v1/items',
      { title: 'Docs lamp', startingPrice: '5', minIncrement: 1, endsAt: Date.now() + 600_000 },
      auth,
    );
    const item = String(created.body.id);
    await call('POST', '/api/v1/items', '/api/v1/items', { title: 'No token', startingPrice: '5' });
    await call(
      'POST',
      '/api/v1/items',
      '/api/v1/items',
      { id: item, title: 'Again', startingPrice: '5', minIncrement: '1', endsAt: Date.now() + 60_000 },
      auth,
    );
    await call('GET', '/api/v1/items', '/api/v1/items');
    await call('GET', '/api/v1/items?limit=none', '/api/v1/items');
    await call('GET', `/api/v1/items/${item}`, '/api/v1/items/{id}');
    await call('GET', '/api/v1/items/nothing_here', '/api/v1/items/{id}');

    const bidRoute = '/api/v1/items/{id}/bid';
    const bidPath = `/api/v1/items/${item}/bid`;
    const key = { ...auth, 'idempotency-key': 'docs-key-1' };
    await call('POST', bidPath, bidRoute, { amount: '7.50' }, key);
    await call('POST', bidPath, bidRoute, { amount: '8.00' }, key);
    await call('POST', bidPath, bidRoute, { amount: 6 }, auth);
    await call('POST', bidPath, bidRoute, { amount: '1.234' }, auth);
    await call('POST', bidPath, bidRoute, { amount: 9 });
    await call('POST', bidPath, bidRoute, { amount: 9, userId: 'someone_else' }, auth);

    await call('GET', `/api/v1/items/${item}/bids`, '/api/v1/items/{id}/bids', undefined, auth);
    await call('GET', `/api/v1/items/${item}/bids?after=-1`, '/api/v1/items/{id}/bids', undefined, auth);
    await call('GET', `/api/v1/items/${item}/bids`, '/api/v1/items/{id}/bids');
    await call('GET', '/api/v1/rooms/lobby/messages', '/api/v1/rooms/{id}/messages', undefined, auth);
    await call('GET', '/api/v1/rooms/lobby/messages', '/api/v1/rooms/{id}/messages');

    const room = `docs_room_${Date.now().toString(36)}`;
    const other = {
      authorization: `Bearer ${String((await http(api.url, 'POST', '/api/v1/dev/token', { userId: 'docs_other' })).body.token)}`,
    };
    await call(
      'POST',
      '/api/v1/rooms',
      '/api/v1/rooms',
      { id: room, private: true, members: ['docs_friend'] },
      auth,
    );
    await call('POST', '/api/v1/rooms', '/api/v1/rooms', { id: room, private: true }, auth);
    await call('POST', '/api/v1/rooms', '/api/v1/rooms', { id: room, private: 'yes' }, auth);
    await call('POST', '/api/v1/rooms', '/api/v1/rooms', { id: room, private: true });
    await call('GET', `/api/v1/rooms/${room}`, '/api/v1/rooms/{id}', undefined, auth);
    await call('GET', `/api/v1/rooms/${room}`, '/api/v1/rooms/{id}', undefined, other);
    await call('GET', '/api/v1/rooms/no.room', '/api/v1/rooms/{id}', undefined, auth);
    await call('GET', `/api/v1/rooms/${room}`, '/api/v1/rooms/{id}');
    await call('GET', `/api/v1/rooms/${room}/messages`, '/api/v1/rooms/{id}/messages', undefined, other);
    const members = '/api/v1/rooms/{id}/members';
    await call('POST', `/api/v1/rooms/${room}/members`, members, { userId: 'docs_other' }, auth);
    await call('POST', `/api/v1/rooms/${room}/members`, members, { userId: 'no spaces' }, auth);
    await call('POST', `/api/v1/rooms/${room}/members`, members, { userId: 'docs_other' });
    await call('POST', `/api/v1/rooms/nobody_s_room/members`, members, { userId: 'docs_other' }, auth);
    await call('POST', '/api/v1/rooms', '/api/v1/rooms', { id: `${room}_pub`, private: false }, auth);
    await call('POST', `/api/v1/rooms/${room}_pub/members`, members, { userId: 'docs_other' }, auth);
    const member = '/api/v1/rooms/{id}/members/{userId}';
    await call('DELETE', `/api/v1/rooms/${room}/members/docs_other`, member, undefined, other);
    await call('DELETE', `/api/v1/rooms/${room}/members/docs_other`, member, undefined, auth);
    await call('DELETE', `/api/v1/rooms/${room}/members/no.one`, member, undefined, auth);
    await call('DELETE', `/api/v1/rooms/${room}/members/docs_friend`, member);
    await call('DELETE', `/api/v1/rooms/${room}/members/docs_friend`, member, undefined, auth);
    await call('DELETE', `/api/v1/rooms/${room}/members/docs_user`, member, undefined, auth);
    await call('GET', '/api/v1/dms?with=bob', '/api/v1/dms', undefined, auth);
    await call('GET', '/api/v1/dms?with=bob', '/api/v1/dms');
    await call('GET', '/health', '/health');
    await call('GET', '/livez', '/livez');
    await call('GET', '/readyz', '/readyz');

    expect([...checked].sort()).toEqual(
      [
        'POST /api/v1/dev/token 200',
        'POST /api/v1/dev/token 400',
        'POST /api/v1/items 201',
        'POST /api/v1/items 401',
        'POST /api/v1/items 409',
        'GET /api/v1/items 200',
        'GET /api/v1/items 400',
        'GET /api/v1/items/{id} 200',
        'GET /api/v1/items/{id} 404',
        `POST ${bidRoute} 201`,
        `POST ${bidRoute} 422`,
        `POST ${bidRoute} 409`,
        `POST ${bidRoute} 400`,
        `POST ${bidRoute} 401`,
        `POST ${bidRoute} 403`,
        'GET /api/v1/items/{id}/bids 200',
        'GET /api/v1/items/{id}/bids 400',
        'GET /api/v1/items/{id}/bids 401',
        'GET /api/v1/rooms/{id}/messages 200',
        'GET /api/v1/rooms/{id}/messages 401',
        'GET /api/v1/rooms/{id}/messages 404',
        'POST /api/v1/rooms 201',
        'POST /api/v1/rooms 400',
        'POST /api/v1/rooms 401',
        'POST /api/v1/rooms 409',
        'GET /api/v1/rooms/{id} 200',
        'GET /api/v1/rooms/{id} 400',
        'GET /api/v1/rooms/{id} 401',
        'GET /api/v1/rooms/{id} 404',
        'POST /api/v1/rooms/{id}/members 200',
        'POST /api/v1/rooms/{id}/members 400',
        'POST /api/v1/rooms/{id}/members 401',
        'POST /api/v1/rooms/{id}/members 404',
        'POST /api/v1/rooms/{id}/members 409',
        'DELETE /api/v1/rooms/{id}/members/{userId} 200',
        'DELETE /api/v1/rooms/{id}/members/{userId} 400',
        'DELETE /api/v1/rooms/{id}/members/{userId} 401',
        'DELETE /api/v1/rooms/{id}/members/{userId} 404',
        'DELETE /api/v1/rooms/{id}/members/{userId} 409',
        'GET /api/v1/dms 200',
        'GET /api/v1/dms 401',
        'GET /health 200',
        'GET /livez 200',
        'GET /readyz 200',
      ].sort(),
    );
  });
});
