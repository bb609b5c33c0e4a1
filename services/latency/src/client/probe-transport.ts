import { connect as connectTcp, type Socket } from 'node:net';
import { io as connectSocketIo } from 'socket.io-client';
import WebSocket from 'ws';

export type Protocol = 'ws' | 'socket.io' | 'tcp';
export const PROTOCOLS: readonly Protocol[] = ['ws', 'socket.io', 'tcp'];

/** One thing the load client measures: where, how, and the name it has in reports. */
export interface Target {
  readonly url: URL;
  readonly protocol: Protocol;
  readonly label: string;
}

export class TargetError extends Error {
  override name = 'TargetError';
}

/**
 * Reads a target URL: ws(s):// is raw WebSocket, http(s):// is Socket.IO, tcp:// is the raw TCP
 * baseline (4-byte length-prefixed frames), unless `protocol` says otherwise. A bare host
 * path gets the echo server's defaults (/echo, and the `/echo` namespace for Socket.IO).
 */
export function parseTarget(raw: string, protocol?: Protocol, label?: string): Target {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetError(`bad target URL ${JSON.stringify(raw)}: expected e.g. ws://host:8090/echo`);
  }
  const scheme = url.protocol;
  const inferred: Protocol | undefined =
    scheme === 'ws:' || scheme === 'wss:'
      ? 'ws'
      : scheme === 'http:' || scheme === 'https:'
        ? 'socket.io'
        : scheme === 'tcp:'
          ? 'tcp'
          : undefined;
  if (!inferred) {
    throw new TargetError(
      `bad target URL ${JSON.stringify(raw)}: scheme must be ws, wss, http, https or tcp`,
    );
  }
  const chosen = protocol ?? inferred;
  if (!url.hostname) throw new TargetError(`bad target URL ${JSON.stringify(raw)}: no host`);
  if (chosen === 'tcp' && (scheme !== 'tcp:' || !url.port)) {
    throw new TargetError(`bad target URL ${JSON.stringify(raw)}: tcp targets look like tcp://host:port`);
  }
  const secure = scheme === 'wss:' || scheme === 'https:';
  if (chosen === 'ws') url.protocol = secure ? 'wss:' : 'ws:';
  if (chosen === 'socket.io') url.protocol = secure ? 'https:' : 'http:';
  if (chosen !== 'tcp' && url.pathname === '/') url.pathname = '/echo';
  return {
    url,
    protocol: chosen,
    label: label ?? `${chosen} ${url.host}${chosen === 'tcp' ? '' : url.pathname}`,
  };
}

export interface ProbeTransport {
  /** Queues one frame; false when the connection is gone. */
  send(frame: Buffer): boolean;
  close(): Promise<void>;
}

export interface TransportHandlers {
  onReply(frame: Uint8Array): void;
  /** The connection went away while the run still needed it. */
  onLost(reason: string): void;
}

/** Opens one connection to `target`; rejects with a TargetError saying why it could not. */
export function openTransport(
  target: Target,
  handlers: TransportHandlers,
  timeoutMs: number,
): Promise<ProbeTransport> {
  switch (target.protocol) {
    case 'ws':
      return openWebSocket(target, handlers, timeoutMs);
    case 'socket.io':
      return openSocketIo(target, handlers, timeoutMs);
    case 'tcp':
      return openTcp(target, handlers, timeoutMs);
  }
}

function cannotConnect(target: Target, reason: string): TargetError {
  return new TargetError(`cannot connect to ${target.url.href} (${target.protocol}): ${reason}`);
}

function openWebSocket(target: Target, handlers: TransportHandlers, timeoutMs: number) {
  return new Promise<ProbeTransport>((resolve, reject) => {
    const socket = new WebSocket(target.url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    let open = false;
    let closing = false;
    socket.binaryType = 'nodebuffer';
    socket.on('unexpected-response', (_req, res) => {
      reject(cannotConnect(target, `HTTP ${res.statusCode} instead of a WebSocket upgrade`));
      socket.terminate();
    });
    socket.on('error', (err) => {
      if (!open) reject(cannotConnect(target, err.message || String(err)));
    });
    socket.on('open', () => {
      open = true;
      resolve({
        send(frame) {
          if (socket.readyState !== WebSocket.OPEN) return false;
          socket.send(frame, { binary: true });
          return true;
        },
        close() {
          closing = true;
          if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
          return new Promise<void>((done) => {
            const timer = setTimeout(() => socket.terminate(), 1000);
            socket.once('close', () => {
              clearTimeout(timer);
              done();
            });
            socket.close(1000);
          });
        },
      });
    });
    socket.on('message', (data: Buffer) => handlers.onReply(data));
    socket.on('close', (code) => {
      if (open && !closing) handlers.onLost(`connection closed (${code})`);
    });
  });
}

function openSocketIo(target: Target, handlers: TransportHandlers, timeoutMs: number) {
  return new Promise<ProbeTransport>((resolve, reject) => {
    const socket = connectSocketIo(`${target.url.origin}${target.url.pathname}`, {
      path: '/socket.io',
      transports: ['websocket'],
      reconnection: false,
      // One real connection per client: without it Socket.IO multiplexes them all on one.
      forceNew: true,
      timeout: timeoutMs,
    });
    let open = false;
    let closing = false;
    socket.on('connect_error', (err) => {
      if (!open) reject(cannotConnect(target, err.message));
      socket.close();
    });
    socket.on('connect', () => {
      open = true;
      const onAck = (reply: unknown) => {
        if (reply instanceof Uint8Array) handlers.onReply(reply);
      };
      resolve({
        send(frame) {
          if (!socket.connected) return false;
          socket.emit('echo', frame, onAck);
          return true;
        },
        async close() {
          closing = true;
          socket.close();
        },
      });
    });
    socket.on('disconnect', (reason) => {
      if (open && !closing) handlers.onLost(`disconnected (${reason})`);
    });
  });
}

function openTcp(target: Target, handlers: TransportHandlers, timeoutMs: number) {
  return new Promise<ProbeTransport>((resolve, reject) => {
    const socket: Socket = connectTcp({ host: target.url.hostname, port: Number(target.url.port) });
    socket.setNoDelay(true);
    let open = false;
    let closing = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(cannotConnect(target, `no connection after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('error', (err) => {
      clearTimeout(timer);
      if (!open) reject(cannotConnect(target, err.message));
    });
    socket.on('connect', () => {
      clearTimeout(timer);
      open = true;
      resolve({
        send(frame) {
          if (socket.destroyed) return false;
          socket.write(frameTcp(frame));
          return true;
        },
        close() {
          closing = true;
          return new Promise<void>((done) => socket.end(done));
        },
      });
    });
    socket.on('data', readTcpFrames(handlers.onReply));
    socket.on('close', () => {
      if (open && !closing) handlers.onLost('connection closed');
    });
  });
}

/** TCP has no message boundaries: each frame goes out behind its 4-byte big-endian length. */
export function frameTcp(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  payload.copy(out, 4);
  return out;
}

/** Splits a TCP byte stream back into the frames of frameTcp. */
export function readTcpFrames(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let offset = 0;
    while (pending.length - offset >= 4) {
      const length = pending.readUInt32BE(offset);
      if (pending.length - offset - 4 < length) break;
      onFrame(pending.subarray(offset + 4, offset + 4 + length));
      offset += 4 + length;
    }
    pending = offset === pending.length ? Buffer.alloc(0) : pending.subarray(offset);
  };
}
