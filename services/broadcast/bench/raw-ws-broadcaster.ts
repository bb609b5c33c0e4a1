import { createServer } from 'node:http';
import { connect } from 'nats';
import { WebSocketServer } from 'ws';
import { decodeEvent } from '@gavel/shared';
import { bidView } from '../src/frames.js';

/**
 * The baseline for bench/fanout.ts: the least a broadcaster can do. It subscribes to the bid
 * subject on core NATS and writes the same `bid` payload to every ws client, with no ordering,
 * replay, rooms or Socket.IO framing.
 */
const port = Number(process.env.PORT ?? 0);
const server = createServer((req, res) => {
  res.writeHead(req.url === '/livez' ? 200 : 404, { 'content-type': 'application/json' }).end('{"ok":true}');
});
const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
const nc = await connect({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' });
const sub = nc.subscribe(process.env.SUBJECT ?? 'gavel.bid.accepted.>');
void (async () => {
  for await (const m of sub) {
    const decoded = decodeEvent(m.data);
    if (!decoded.ok || decoded.event.type !== 'bid.accepted') continue;
    const frame = JSON.stringify({ type: 'bid', ...bidView(decoded.event) });
    for (const ws of wss.clients) ws.send(frame);
  }
})();
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
  void nc.close().then(() => process.exit(0));
});
