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

/**
 * Security headers on every answer (the page, its files and the JSON routes), by helmet:
 * a Content-Security-Policy that the page meets with no inline script or style, no framing
 * (frame-ancestors and X-Frame-Options), X-Content-Type-Options: nosniff, a strict Referrer-Policy.
 *
 * helmet itself, built once: the Fastify plugin builds a new helmet (parsing and checking every
 * directive) for each request, which was about 5% of the api's CPU per accepted bid.
 */
export function registerSecurityHeaders(app: FastifyInstance): void {
  const setHeaders = helmet({
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
    // Only browsers that reached us over https keep this; subdomains are not ours to decide.
    strictTransportSecurity: { maxAge: 180 * 24 * 3600, includeSubDomains: false },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  });
  app.addHook('onRequest', function securityHeaders(request, reply, done) {
    setHeaders(request.raw, reply.raw, (err) => done(err instanceof Error ? err : undefined));
  });
}
