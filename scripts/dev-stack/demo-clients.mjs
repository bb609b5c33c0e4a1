// The users of the blue/green demo: Socket.IO and /ws clients that watch an item and sit in its
// room, move to another server when theirs drains (as the page and the CLI do: resume from the
// last seq and chat cursor seen), and keep the record that the demo's verdict is made from.
import { io } from 'socket.io-client';
import WebSocket from 'ws';

/**
 * What one user saw. `visibleDisconnects` counts every loss of the connection that was not the
 * announced move of a drain, and every move that did not resume; `gapsMs` each move's time from
 * the old connection closing to the new one having replayed what was missed.
 */
class Record {
  seqs = [];
  cursors = [];
  colours = [];
  gapsMs = [];
  visibleDisconnects = 0;
  firstSeq = 0;
  firstCursor = 0;
  lastSeq = 0;
  lastCursor = 0;

  bid(seq) {
    this.seqs.push(seq);
    if (seq > this.lastSeq) this.lastSeq = seq;
  }

  chat(cursor) {
    this.cursors.push(cursor);
    if (cursor > this.lastCursor) this.lastCursor = cursor;
  }
}

/** A Socket.IO user, as the page connects: WebSocket first, reconnection on. */
export class SocketIoUser {
  record = new Record();
  #draining = false;
  #closedAt = 0;
  #joinedOnce = false;

  constructor({ url, token, itemId, roomId }) {
    this.itemId = itemId;
    this.roomId = roomId;
    this.socket = io(url, {
      transports: ['websocket', 'polling'],
      auth: { token },
      forceNew: true,
      reconnectionDelay: 200,
      reconnectionDelayMax: 2000,
    });
    const s = this.socket;
    this.ready = new Promise((resolve, reject) => {
      s.once('connect_error', reject);
      this.#onJoined = resolve;
    });
    s.on('session', (session) => this.record.colours.push(session.color ?? '?'));
    s.on('connect', () => void this.#join());
    s.on('bid', (b) => b.itemId === itemId && this.record.bid(b.seq));
    s.on('chat', (m) => m.roomId === roomId && this.record.chat(m.cursor));
    s.on('server:draining', (p) => {
      this.#draining = true;
      // Closing the transport (not the socket) reconnects it, through the proxy, to a ready colour.
      setTimeout(() => s.io.engine?.close(), Number(p?.reconnectInMs) || 0);
    });
    s.on('disconnect', (reason) => {
      if (reason === 'io client disconnect') return;
      this.#closedAt = Date.now();
      if (!this.#draining) this.record.visibleDisconnects++;
    });
  }

  #onJoined;

  async #join() {
    const first = !this.#joinedOnce;
    const watch = first ? { itemId: this.itemId } : { itemId: this.itemId, afterSeq: this.record.lastSeq };
    const join = first
      ? { roomId: this.roomId }
      : { roomId: this.roomId, afterCursor: this.record.lastCursor };
    try {
      const [w, j] = await Promise.all([
        this.socket.timeout(15_000).emitWithAck('item:watch', watch),
        this.socket.timeout(15_000).emitWithAck('room:join', join),
      ]);
      if (!w?.ok || !j?.ok) throw new Error(`resume refused: ${JSON.stringify([w, j])}`);
      if (first) {
        this.record.firstSeq = w.lastSeq;
        this.record.lastSeq = w.lastSeq;
        this.record.firstCursor = j.cursor ?? 0;
        this.record.lastCursor = Math.max(this.record.lastCursor, j.cursor ?? 0);
        this.#joinedOnce = true;
        this.#onJoined();
      } else {
        this.record.gapsMs.push(Date.now() - this.#closedAt);
        this.#draining = false;
      }
    } catch {
      this.record.visibleDisconnects++;
    }
  }

  close() {
    this.socket.close();
  }
}

/** A plain-WebSocket user (seed 003's protocol): reconnects itself when told to move. */
export class WsUser {
  record = new Record();
  #closing = false;
  #draining = false;
  #closedAt = 0;
  #joinedOnce = false;

  constructor({ url, token, itemId, roomId }) {
    this.url = `${url.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(token)}`;
    this.itemId = itemId;
    this.roomId = roomId;
    this.ready = new Promise((resolve, reject) => {
      this.#onJoined = resolve;
      this.#onFailed = reject;
    });
    this.#open();
  }

  #onJoined;
  #onFailed;

  #open() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    const first = !this.#joinedOnce;
    ws.on('open', () => {
      ws.send(
        JSON.stringify({
          type: 'watch',
          itemId: this.itemId,
          ...(first ? {} : { afterSeq: this.record.lastSeq }),
          reqId: 'w',
        }),
      );
      ws.send(
        JSON.stringify({
          type: 'join',
          room: this.roomId,
          ...(first ? {} : { after: this.record.lastCursor }),
          reqId: 'j',
        }),
      );
    });
    let acks = 0;
    ws.on('message', (data) => {
      const f = JSON.parse(String(data));
      if (f.type === 'welcome') this.record.colours.push(f.color ?? '?');
      else if (f.type === 'bid' && f.itemId === this.itemId) this.record.bid(f.seq);
      else if (f.type === 'chat' && f.roomId === this.roomId) this.record.chat(f.cursor);
      else if (f.type === 'server:draining') {
        this.#draining = true;
        setTimeout(() => ws.close(1000, 'moving'), Number(f.reconnectInMs) || 0);
      } else if (f.type === 'error') this.record.visibleDisconnects++;
      else if (f.type === 'ack' && (f.reqId === 'w' || f.reqId === 'j')) {
        if (first && f.reqId === 'w') this.record.firstSeq = this.record.lastSeq = f.lastSeq;
        if (first && f.reqId === 'j') {
          this.record.firstCursor = f.cursor ?? 0;
          this.record.lastCursor = Math.max(this.record.lastCursor, f.cursor ?? 0);
        }
        if (++acks === 2) {
          if (first) {
            this.#joinedOnce = true;
            this.#onJoined();
          } else {
            this.record.gapsMs.push(Date.now() - this.#closedAt);
            this.#draining = false;
          }
        }
      }
    });
    ws.on('error', (err) => {
      if (first && !this.#joinedOnce) this.#onFailed(err);
    });
    ws.on('close', () => {
      if (this.#closing) return;
      this.#closedAt = Date.now();
      if (!this.#draining) this.record.visibleDisconnects++;
      // Through the proxy again: it sends the new connection to a ready colour.
      setTimeout(() => this.#open(), this.#draining ? 0 : 200);
    });
  }

  close() {
    this.#closing = true;
    this.ws.close();
  }
}
