/**
 * The resilience experiment's bid load, a process of its own: autocannon at a constant overall
 * rate on one item (open mode: `user_id` in the body), answers counted in quarter seconds and
 * sent to the parent every second. Runs until told to stop.
 */
import autocannon from 'autocannon';
import type { Bucket, LoadMessage, LoadStart } from './load-protocol.js';

const BUCKET_MS = 250;
const send = (m: LoadMessage) => process.send?.(m);
let instance: autocannon.Instance | undefined;
let current: { at: number; accepted: number; refused: Record<string, number>; errors: number } | undefined;
let pending: Bucket[] = [];
let accepted = 0;
let amount = 100;

function bucket() {
  const at = Math.floor(Date.now() / BUCKET_MS) * BUCKET_MS;
  if (!current || current.at !== at) {
    if (current) pending.push(current);
    current = { at, accepted: 0, refused: {}, errors: 0 };
  }
  return current;
}

function start(s: LoadStart) {
  let client = 0;
  // With a callback autocannon returns its instance (events, stop) rather than a promise.
  const cannon = autocannon(
    {
      url: s.url,
      connections: s.connections,
      overallRate: s.rate,
      duration: 3600,
      timeout: 5,
      setupClient(c) {
        const user = `res_u${client++}`;
        c.setRequests([
          {
            method: 'POST',
            path: `/api/v1/items/${s.itemId}/bid`,
            headers: { 'content-type': 'application/json' },
            setupRequest(request) {
              amount += 1;
              request.body = `{"user_id":"${user}","amount":"${(amount / 100).toFixed(2)}"}`;
              return request;
            },
          },
        ]);
      },
    },
    () => undefined,
  );
  instance = cannon;
  cannon.on('response', (_client, status) => {
    const b = bucket();
    if (status === 201) {
      b.accepted++;
      accepted++;
    } else b.refused[status] = (b.refused[status] ?? 0) + 1;
  });
  cannon.on('reqError', () => bucket().errors++);
}

setInterval(() => {
  bucket();
  if (pending.length > 0) send({ type: 'buckets', buckets: pending });
  pending = [];
}, 1000).unref();

process.on('message', (m: LoadStart | { type: 'stop' }) => {
  if (m.type === 'start') start(m);
  else {
    instance?.stop();
    bucket();
    if (current) pending.push(current);
    send({ type: 'buckets', buckets: pending });
    send({ type: 'stopped', accepted });
  }
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
