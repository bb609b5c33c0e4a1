/**
 * The fan-out benchmark's watchers, a process of their own (forked by fanout.ts), so that the
 * servers' CPU per delivery is theirs alone. Each group of clients watches one item on one kind
 * of server; for every bid received it records the delay from the bid's intended publish time
 * (coordinated-omission safe) in an HdrHistogram, and counts what arrived out of order or twice.
 *
 * The clients are `ws` sockets speaking each server's protocol, as thin as a client can be: a
 * Socket.IO client library parses and dispatches every packet and would spend more CPU than the
 * server measured next to it. The protocol is Socket.IO v5 over Engine.IO v4's websocket
 * transport (open, CONNECT with auth, EVENT/ACK, ping/pong); the broadcast tests check the same
 * server with socket.io-client itself.
 */
import * as hdr from 'hdr-histogram-js';
import WebSocket from 'ws';
import type { WatcherCommand, WatcherReply } from './watchers-protocol.js';

const send = (reply: WatcherReply) => process.send?.(reply);
const SEQ = /"seq":(\d+)/;

/** Epoch milliseconds with sub-millisecond resolution, comparable across processes. */
const nowMs = () => performance.timeOrigin + performance.now();

interface Expectation {
  firstSeq: number;
  lastSeq: number;
  startMs: number;
  intervalMs: number;
}

class Group {
  readonly sockets: WebSocket[] = [];
  /** Highest seq each client has had. */
  lastSeen: Int32Array = new Int32Array(0);
  deliveries = 0;
  outOfOrder = 0;
  expect: Expectation | undefined;
  histogram = newHistogram();
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }

  record(client: number, seq: number): void {
    const e = this.expect;
    if (!e || seq < e.firstSeq || seq > e.lastSeq) return;
    if (seq !== this.lastSeen[client]! + 1) this.outOfOrder++;
    this.lastSeen[client] = seq;
    this.deliveries++;
    const delayUs = Math.max(
      1,
      Math.round((nowMs() - (e.startMs + (seq - e.firstSeq) * e.intervalMs)) * 1000),
    );
    this.histogram.recordValue(delayUs);
  }
}

function newHistogram() {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

const groups = new Map<string, Group>();

/** Opens one client; resolves once it watches `itemId` (or is connected, without one). */
function openClient(
  kind: 'socketio' | 'ws' | 'raw',
  url: string,
  index: number,
  itemId: string | undefined,
  onBid: (seq: number) => void,
): Promise<WebSocket> {
  const base = url.replace(/^http/, 'ws');
  const user = `w${index}`;
  const target =
    kind === 'socketio'
      ? `${base}/socket.io/?EIO=4&transport=websocket`
      : kind === 'ws'
        ? `${base}/ws?userId=${user}`
        : `${base}/ws`;
  const ws = new WebSocket(target, { perMessageDeflate: false, skipUTF8Validation: true });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} client ${index}: no answer in 60 s`)), 60_000);
    const ready = () => {
      clearTimeout(timer);
      resolve(ws);
    };
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (kind === 'raw') {
      ws.once('open', ready);
      ws.on('message', (data) => onBid(Number(SEQ.exec(String(data))?.[1] ?? 0)));
      return;
    }
    if (kind === 'ws') {
      ws.once('open', () => {
        if (!itemId) return ready();
        ws.send(JSON.stringify({ type: 'watch', itemId }));
      });
      ws.on('message', (data) => {
        const text = String(data);
        if (text.startsWith('{"type":"bid"')) onBid(Number(SEQ.exec(text)?.[1] ?? 0));
        else if (text.startsWith('{"type":"ack"')) ready();
      });
      return;
    }
    ws.on('message', (data) => {
      const text = String(data);
      if (text.startsWith('42["bid"')) return onBid(Number(SEQ.exec(text)?.[1] ?? 0));
      if (text === '2') return ws.send('3'); // engine.io ping → pong
      if (text.startsWith('0{')) return ws.send(`40${JSON.stringify({ userId: user })}`); // open → CONNECT
      if (text.startsWith('40{')) {
        // CONNECTed: watch (EVENT with ack id 0), or done.
        if (!itemId) return ready();
        return ws.send(`420${JSON.stringify(['item:watch', { itemId }])}`);
      }
      if (text.startsWith('430')) return ready(); // the watch's ack
      if (text.startsWith('44')) reject(new Error(`connect refused: ${text}`));
    });
  });
}

async function connectGroup(c: Extract<WatcherCommand, { type: 'connect' }>): Promise<void> {
  const group = new Group(c.group);
  groups.set(c.group, group);
  group.lastSeen = new Int32Array(c.count);
  // A few hundred handshakes at a time: a thousand at once overruns a loaded server's accept queue.
  for (let i = 0; i < c.count; i += 200) {
    const batch = Array.from({ length: Math.min(200, c.count - i) }, (_, j) => i + j);
    const sockets = await Promise.all(
      batch.map((index) =>
        openClient(
          c.kind,
          c.urls[index % c.urls.length]!,
          c.userOffset + (index % (c.users ?? c.count)),
          c.itemId,
          (seq) => group.record(index, seq),
        ),
      ),
    );
    group.sockets.push(...sockets);
  }
}

async function awaitBids(c: Extract<WatcherCommand, { type: 'expect' }>): Promise<WatcherReply> {
  const group = groups.get(c.group);
  if (!group) throw new Error(`no group ${c.group}`);
  const expected = (c.lastSeq - c.firstSeq + 1) * group.sockets.length;
  const deadline = c.startMs + (c.lastSeq - c.firstSeq + 1) * c.intervalMs + c.graceMs;
  while (group.deliveries < expected && nowMs() < deadline) await new Promise((r) => setTimeout(r, 50));
  const reply: WatcherReply = {
    type: 'received',
    group: c.group,
    deliveries: group.deliveries,
    expected,
    outOfOrder: group.outOfOrder,
    histogram: hdr.encodeIntoCompressedBase64(group.histogram),
  };
  return reply;
}

process.on('message', (c: WatcherCommand) => {
  const run = async (): Promise<WatcherReply> => {
    switch (c.type) {
      case 'connect':
        await connectGroup(c);
        return { type: 'connected', group: c.group };
      case 'expect': {
        const group = groups.get(c.group);
        if (!group) throw new Error(`no group ${c.group}`);
        group.expect = {
          firstSeq: c.firstSeq,
          lastSeq: c.lastSeq,
          startMs: c.startMs,
          intervalMs: c.intervalMs,
        };
        group.deliveries = 0;
        group.outOfOrder = 0;
        group.histogram = newHistogram();
        group.lastSeen.fill(c.firstSeq - 1);
        send({ type: 'expecting', group: c.group });
        return awaitBids(c);
      }
      case 'close': {
        const group = groups.get(c.group);
        for (const ws of group?.sockets ?? []) ws.terminate();
        groups.delete(c.group);
        return { type: 'closed', group: c.group };
      }
    }
  };
  run().then(send, (err: unknown) => send({ type: 'failed', group: c.group, error: String(err) }));
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', group: '' });
