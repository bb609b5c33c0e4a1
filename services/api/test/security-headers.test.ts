import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupNames, startApi, testNames, type TestApi } from './helpers.js';

/** The CSP as a map of directive → sources. */
function policy(header: string | null): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of (header ?? '').split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) out.set(name, sources);
  }
  return out;
}

describe('security headers', () => {
  const names = testNames();
  let api: TestApi;

  beforeAll(async () => {
    api = await startApi(names);
  });
  afterAll(async () => {
    await api?.close();
    await cleanupNames(names);
  });

  /** Headers every answer has, page or API. */
  const expectCommon = (res: Response, path: string) => {
    expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
    expect(res.headers.get('x-frame-options'), path).toBe('DENY');
    expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
    expect(res.headers.get('strict-transport-security'), path).toBe('max-age=15552000');
    expect(res.headers.get('cross-origin-opener-policy'), path).toBe('same-origin');
    expect(res.headers.has('x-powered-by'), path).toBe(false);
  };

  it('sends the JSON routes a policy that lets nothing load, whatever the answer', async () => {
    const item = await fetch(`${api.url}/api/v1/items`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"title":',
    });
    expect(item.status).toBe(400);
    for (const res of [
      await fetch(`${api.url}/api/v1/items`),
      await fetch(`${api.url}/api/v1/nope`),
      await fetch(`${api.url}/api/v1/items?limit=abc`),
      item,
    ]) {
      expectCommon(res, res.url);
      const csp = policy(res.headers.get('content-security-policy'));
      expect([...csp.entries()], res.url).toEqual([
        ['default-src', ["'none'"]],
        ['frame-ancestors', ["'none'"]],
      ]);
      // Set once per answer, not once per hook run.
      expect(res.headers.get('x-frame-options'), res.url).toBe('DENY');
    }
  });

  it('sends a CSP without inline script, nosniff and no framing on the page and its files', async () => {
    for (const path of ['/', '/index.html', '/app.js', '/styles.css', '/nope']) {
      const res = await fetch(`${api.url}${path}`);
      expectCommon(res, path);
      const csp = policy(res.headers.get('content-security-policy'));
      expect(csp.get('default-src'), path).toEqual(["'self'"]);
      expect(csp.get('frame-ancestors'), path).toEqual(["'none'"]);
      expect(csp.get('object-src'), path).toEqual(["'none'"]);
      for (const directive of ['script-src', 'style-src', 'default-src']) {
        const sources = csp.get(directive) ?? [];
        expect(sources.length, `${path} ${directive}`).toBeGreaterThan(0);
        expect(sources.join(' '), `${path} ${directive}`).not.toMatch(
          /unsafe-inline|unsafe-eval|\*(?!\s|$)|^\*$/,
        );
      }
      expect(csp.has('upgrade-insecure-requests'), path).toBe(false);
    }
  });

  /** The page's CSP for a Host header (fetch cannot set Host). */
  async function pagePolicy(host: string): Promise<Map<string, string[]>> {
    const { port } = new URL(api.url);
    const header = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', headers: { host } }, (res) => {
        res.resume();
        resolve(String(res.headers['content-security-policy'] ?? ''));
      });
      req.on('error', reject);
      req.end();
    });
    return policy(header);
  }

  it('lets the page reach broadcast on another port of its own host only', async () => {
    const csp = await pagePolicy('gavel.example:8080');
    expect(csp.get('script-src')).toEqual(["'self'", 'http://gavel.example:*', 'https://gavel.example:*']);
    expect(csp.get('connect-src')).toEqual([
      "'self'",
      'http://gavel.example:*',
      'https://gavel.example:*',
      'ws://gavel.example:*',
      'wss://gavel.example:*',
    ]);
    expect((await pagePolicy('[::1]:8080')).get('script-src')).toEqual([
      "'self'",
      'http://[::1]:*',
      'https://[::1]:*',
    ]);
  });

  it('never copies a strange Host header into the policy', async () => {
    for (const host of ['evil.example; script-src *', "x'y", 'evil.example,a']) {
      const csp = await pagePolicy(host);
      expect(csp.get('script-src'), host).toEqual(["'self'"]);
      expect(csp.get('connect-src'), host).toEqual(["'self'"]);
      expect(csp.get('default-src'), host).toEqual(["'self'"]);
    }
  });

  it('the page has no inline script or style for the policy to refuse', () => {
    const html = readFileSync(fileURLToPath(new URL('../public/index.html', import.meta.url)), 'utf8');
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/\bsrc=/);
      expect(body?.trim()).toBe('');
    }
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=|javascript:/i);
  });
});
