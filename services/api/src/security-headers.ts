import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import helmet from 'helmet';

/** A Host header's host name, when it is a plain DNS name or IP literal (else none). */
function hostName(req: IncomingMessage): string | undefined {
  const host = req.headers.host ?? '';
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(?::\d{1,5})?$/.exec(host);
  return match?.[1];
}

/**
 * The live connection's origins. The page connects to broadcast on its own origin behind the
 * ALB, and locally on another port of the same host (8081, or `?broadcast=` which the page
 * restricts to the same host name): the policy allows exactly that host, any port, and nothing
 * else. Derived per request because the page does not know its public name at build time.
 */
function sameHostAnyPort(schemes: readonly string[]) {
  return (req: IncomingMessage) => {
    const host = hostName(req);
    return host ? schemes.map((scheme) => `${scheme}://${host}:*`).join(' ') : '';
  };
}

/** What both policies share: HSTS for browsers that came over https, no framing, no referrer. */
const COMMON = {
  // Only browsers that reached us over https keep this; subdomains are not ours to decide.
  strictTransportSecurity: { maxAge: 180 * 24 * 3600, includeSubDomains: false },
  frameguard: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
} as const;

/**
 * The headers helmet sets for a fixed configuration, read once by running it against a stand-in
 * response. A configuration without per-request parts gives the same headers every time.
 */
function fixedHeaders(options: Parameters<typeof helmet>[0]): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  const response = {
    setHeader: (name: string, value: string) => headers.push([name, String(value)]),
    removeHeader: () => undefined,
  };
  let outcome: { err: unknown } | undefined;
  helmet(options)({ headers: {} } as IncomingMessage, response as never, (err?: unknown) => {
    outcome = { err };
  });
  // helmet sets its headers synchronously; were that to change, fail at start, not silently.
  if (!outcome) throw new Error('helmet did not finish synchronously');
  if (outcome.err) throw outcome.err instanceof Error ? outcome.err : new Error(String(outcome.err));
  return headers;
}

/**
 * Security headers on every answer, by helmet: no framing (frame-ancestors and X-Frame-Options),
 * X-Content-Type-Options: nosniff, a strict Referrer-Policy, and a Content-Security-Policy.
 *
 * The page and its files (everything outside /api/) get a policy that the page meets with no
 * inline script or style, naming the live connection's origin from the request's Host. JSON
 * answers under /api/ get `default-src 'none'` (OWASP's advice for an API: nothing in an answer
 * may load or run anything), the same for every request, so helmet computes those headers once
 * at start and each answer only copies them: per accepted bid, helmet's own work was about 4% of
 * the api's CPU. (The Fastify plugin builds a new helmet for each request, which was about 5%.)
 */
export function registerSecurityHeaders(app: FastifyInstance): void {
  const pageHeaders = helmet({
    ...COMMON,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        // The Socket.IO browser client is a classic script served by broadcast.
        'script-src': ["'self'", sameHostAnyPort(['http', 'https'])],
        'connect-src': ["'self'", sameHostAnyPort(['http', 'https', 'ws', 'wss'])],
        // data: for the empty favicon of index.html.
        'img-src': ["'self'", 'data:'],
        'style-src': ["'self'"],
        'object-src': ["'none'"],
        'base-uri': ["'self'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        // No upgrade-insecure-requests: locally the page and broadcast are plain http.
      },
    },
  });
  const apiHeaders = fixedHeaders({
    ...COMMON,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { 'default-src': ["'none'"], 'frame-ancestors': ["'none'"] },
    },
  });
  app.addHook('onRequest', function securityHeaders(request, reply, done) {
    if (request.url.startsWith('/api/')) {
      const res = reply.raw;
      for (const [name, value] of apiHeaders) res.setHeader(name, value);
      return done();
    }
    pageHeaders(request.raw, reply.raw, (err) => done(err instanceof Error ? err : undefined));
  });
}
