import { STATUS_CODES, type ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';

/**
 * A request must arrive whole — headers and body — within REQUEST_TIMEOUT_S, or it gets 408 and
 * its connection is closed: a client that trickles a byte every few seconds (slowloris) holds a
 * socket and a parser for that long at most, not for as long as it likes.
 */

/** Node checks pending requests against their deadline this often (its default is 30 s). */
const CHECK_INTERVAL_MS = 500;

function answer(socket: Socket, status: number, error: string, message: string): void {
  const body = JSON.stringify({ error, message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Fastify server options for the deadline, with errors in the services' `{error, message}` shape. */
export function requestDeadlineOptions(timeoutS: number): {
  requestTimeout: number;
  http: ServerOptions;
  clientErrorHandler: NonNullable<FastifyServerOptions['clientErrorHandler']>;
} {
  const timeoutMs = timeoutS * 1000;
  return {
    requestTimeout: timeoutMs,
    http: {
      headersTimeout: timeoutMs,
      requestTimeout: timeoutMs,
      connectionsCheckingInterval: CHECK_INTERVAL_MS,
    },
    clientErrorHandler(err, socket) {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      if (!socket.writable) return void socket.destroy();
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        return answer(
          socket,
          408,
          'request_timeout',
          `the request did not arrive whole within ${timeoutS} s`,
        );
      }
      if (err.code === 'HPE_HEADER_OVERFLOW') {
        return answer(socket, 431, 'headers_too_large', 'the request headers are too large');
      }
      answer(socket, 400, 'bad_request', 'the request is not valid HTTP');
    },
  };
}

/**
 * Connections whose request has not arrived whole (or that wait for their next one) are cut at
 * shutdown instead of being waited for: `close()` then waits only for requests being answered.
 * Returns the function that cuts them; it also makes the server drop connections from then on.
 */
export function trackArrivingRequests(app: FastifyInstance): () => void {
  const arriving = new Set<Socket>();
  // Only sockets the server accepted: app.inject() answers requests on a stand-in without destroy().
  const accepted = new WeakSet<Socket>();
  let closing = false;
  app.server.on('connection', (socket: Socket) => {
    if (closing) return void socket.destroy();
    accepted.add(socket);
    arriving.add(socket);
    socket.once('close', () => arriving.delete(socket));
  });
  // The body is in (or there is none): the request is being answered, let it finish.
  app.addHook('preHandler', async (request) => {
    arriving.delete(request.raw.socket);
  });
  app.addHook('onResponse', async (request) => {
    const socket = request.raw.socket;
    if (accepted.has(socket) && !socket.destroyed) arriving.add(socket);
  });
  return () => {
    closing = true;
    for (const socket of arriving) socket.destroy();
    arriving.clear();
  };
}
