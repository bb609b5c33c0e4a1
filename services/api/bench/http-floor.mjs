/**
 * The HTTP floor of the bid benchmark: a bare node:http server that reads the same POST, parses
 * its JSON and answers 201 with a JSON body shaped like an accepted bid. Whatever the api spends
 * beyond this is the cost of the bid path itself. PORT from the environment; GET /livez for the
 * harness to wait on.
 */
import { createServer } from 'node:http';

let seq = 0;
const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    return;
  }
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_json"}');
      return;
    }
    const now = new Date().toISOString();
    const answer = JSON.stringify({
      itemId: req.url?.split('/')[4] ?? '',
      seq: ++seq,
      amount: String(body.amount),
      amountCents: Math.round(Number(body.amount) * 100),
      userId: typeof body.user_id === 'string' ? body.user_id : 'floor',
      at: now,
      endsAt: now,
      extended: false,
    });
    res.writeHead(201, { 'content-type': 'application/json; charset=utf-8' }).end(answer);
  });
});
server.keepAliveTimeout = 72_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
