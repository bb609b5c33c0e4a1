/* global document, window, URLSearchParams */
import { CLIENT_COMMANDS, ERROR_CODES, SERVER_EVENTS } from './protocol.js';
/**
 * The live connection to the broadcast service. Behind the ALB the page, /api and /socket.io share
 * one origin; locally the api (this page) is on 8080 and broadcast on 8081. `?broadcast=ORIGIN`
 * overrides both, for another port of the same host. The CLI derives it the same way
 * (clients/cli/src/broadcast-url.ts).
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

/**
 * A refused ack is `{ok: false, code, message}` (see ERROR_CODES): the message reads best.
 * @param {{ code?: string, message?: string } | undefined} ack
 */
export function ackError(ack) {
  if (typeof ack?.message === 'string' && ack.message) return ack.message;
  if (typeof ack?.code === 'string') return ERROR_CODES[ack.code] ?? ack.code.replaceAll('_', ' ');
  return 'no answer';
}

/**
 * One Socket.IO connection with a visible state: connecting, connected, reconnecting, draining.
 * `onConnect(reconnected)` runs on every (re)connection so the page can watch and join again.
 */
export class LiveConnection {
  constructor(io, { origin, token, deviceId, onState, onConnect, onUnauthorized, onExpired }) {
    this.socket = io(origin, {
      path: '/socket.io',
      // The device names this browser's place in the user's DM feed (what it has been sent).
      auth: { token, ...(deviceId ? { deviceId } : {}) },
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
      onConnect(this.connectedBefore);
      this.connectedBefore = true;
    });
    // The newest DM feed event this page has: a reconnect resumes the feed right after it, so
    // none comes twice even when the server that sent it was killed before noting the device's place.
    for (const event of ['dm', 'dm:delivered', 'dm:read']) {
      s.on(event, (e) => {
        const cursor = e?.cursor;
        if (Number.isSafeInteger(cursor) && !(cursor <= s.auth.dmAfterCursor)) {
          s.auth = { ...s.auth, dmAfterCursor: cursor };
        }
      });
    }
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
    // The token ran out before a fresh one arrived: the server disconnects and will not take
    // this socket back, so the page must not show "reconnecting…" forever.
    s.on('session:expired', () => {
      clearTimeout(this.drainTimer);
      s.disconnect();
      set('offline');
      onExpired();
    });
    s.on('server:draining', (payload) => {
      set('draining');
      const wait = Number(payload?.reconnectInMs) || 0;
      // Closing the transport (not the socket) makes the client reconnect, to a ready server.
      this.drainTimer = setTimeout(() => s.io.engine?.close(), wait);
    });
  }

  /**
   * @param {(typeof SERVER_EVENTS)[number]} event a server event of the protocol
   * @param {(payload: any) => void} handler
   */
  on(event, handler) {
    if (!SERVER_EVENTS.includes(event)) throw new Error(`not a server event of the protocol: ${event}`);
    this.socket.on(event, handler);
  }

  /**
   * Emits with an ack and a timeout; resolves to the ack, throws a readable Error when refused.
   * @param {(typeof CLIENT_COMMANDS)[number]} event a client command of the protocol
   * @param {object} payload
   */
  async request(event, payload) {
    if (!CLIENT_COMMANDS.includes(event)) throw new Error(`not a client command of the protocol: ${event}`);
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

  /**
   * A fresh token of the same user: sent on the live connection (`auth:refresh`, which moves its
   * end to the new token's `exp`), and kept for the next handshake should the connection drop.
   * Throws a readable Error when the server refuses it.
   * @param {string} token
   */
  async useToken(token) {
    this.socket.auth = { ...this.socket.auth, token };
    // Not connected: the reconnect's handshake carries the new token, which is all it needs.
    if (this.socket.connected) await this.request('auth:refresh', { token });
  }

  close() {
    clearTimeout(this.drainTimer);
    this.socket.disconnect();
  }
}
