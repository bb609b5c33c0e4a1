/* global document, window, URLSearchParams */
/**
 * The live connection to the broadcast service. Behind the ALB the page, /api and /socket.io share
 * one origin; locally the api (this page) is on 8080 and broadcast on 8081. `?broadcast=ORIGIN`
 * overrides both, for another port of the same host. The CLI derives it the same way
 * (services/broadcast/src/cli/broadcast-url.ts).
 */
export function broadcastOrigin(location) {
  const url = new URL(location.href);
  const override = new URLSearchParams(location.search).get('broadcast');
  if (override) {
    let target;
    try {
      target = new URL(override, location.href);
    } catch {
      target = undefined;
    }
    // The sign-in token travels to this origin, so a link must not be able to send it elsewhere:
    // only another port (or scheme) of the page's own host is accepted.
    if (target && target.hostname === url.hostname && /^https?:$/.test(target.protocol)) return target.origin;
  }
  if (url.port === '8080') url.port = '8081';
  return url.origin;
}

/**
 * Loads the official Socket.IO browser client from the broadcast server (socket.io serves the
 * bundle matching its own version). A classic script, not an ES import: it works across origins
 * without CORS headers on that file.
 */
export function loadSocketIoClient(origin) {
  if (window.io) return Promise.resolve(window.io);
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = `${origin}/socket.io/socket.io.min.js`;
    script.async = true;
    script.onload = () =>
      window.io ? resolve(window.io) : reject(new Error('Socket.IO client did not load'));
    script.onerror = () => reject(new Error(`Cannot load the live connection from ${origin}`));
    document.head.append(script);
  });
}

/** A refused ack is `{ok: false, error: code, message}`: the message reads best. */
export function ackError(ack) {
  if (typeof ack?.message === 'string' && ack.message) return ack.message;
  const error = ack?.error;
  if (typeof error === 'string') return error.replaceAll('_', ' ');
  if (error && typeof error === 'object') return error.message ?? error.code ?? 'refused';
  return 'no answer';
}

/** The first array in an ack (`{ok: true, users: [...]}` and the like). */
export function ackList(ack) {
  if (Array.isArray(ack)) return ack;
  for (const value of Object.values(ack ?? {})) if (Array.isArray(value)) return value;
  return [];
}

/**
 * One Socket.IO connection with a visible state: connecting, connected, reconnecting, draining.
 * `onConnect(recovered, reconnected)` runs on every (re)connection so the page can watch and join
 * again.
 */
export class LiveConnection {
  constructor(io, { origin, token, onState, onConnect, onUnauthorized }) {
    this.socket = io(origin, {
      path: '/socket.io',
      auth: { token },
      // WebSocket first; HTTP long-polling stays as the fallback for proxies that refuse upgrades.
      transports: ['websocket', 'polling'],
      reconnectionDelayMax: 5000,
    });
    this.state = 'connecting';
    this.connectedBefore = false;
    const set = (state) => {
      this.state = state;
      onState(state);
    };
    onState('connecting');
    const s = this.socket;
    s.on('connect', () => {
      set('connected');
      onConnect(Boolean(s.recovered), this.connectedBefore);
      this.connectedBefore = true;
    });
    s.on('disconnect', (reason) => {
      if (reason === 'io client disconnect') set('offline');
      else if (this.state !== 'draining') set('reconnecting');
    });
    s.io.on('reconnect_attempt', () => {
      if (this.state !== 'draining') set('reconnecting');
    });
    s.on('connect_error', (err) => {
      if (err?.message === 'unauthorized') {
        s.disconnect();
        set('offline');
        onUnauthorized();
      } else {
        // Also after a drain: the move to another server has not worked yet.
        set('reconnecting');
      }
    });
    s.on('server:draining', (payload) => {
      set('draining');
      const wait = Number(payload?.reconnectInMs) || 0;
      // Closing the transport (not the socket) keeps the session recoverable on the next server.
      this.drainTimer = setTimeout(() => s.io.engine?.close(), wait);
    });
  }

  on(event, handler) {
    this.socket.on(event, handler);
  }

  /** Emits with an ack and a timeout; resolves to the ack, throws a readable Error when refused. */
  async request(event, payload) {
    if (!this.socket.connected) throw new Error('Not connected right now; reconnecting…');
    let ack;
    try {
      ack = await this.socket.timeout(10000).emitWithAck(event, payload);
    } catch {
      throw new Error(
        this.socket.connected ? 'The server did not answer in time.' : 'Not connected right now.',
      );
    }
    if (!ack || ack.ok !== true) throw new Error(ackError(ack));
    return ack;
  }

  close() {
    clearTimeout(this.drainTimer);
    this.socket.disconnect();
  }
}
