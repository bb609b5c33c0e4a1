/**
 * The load generator, a process of its own (forked by the harness): runs autocannon against one
 * server as LoadSpec says and sends back every answer's status and latency (HdrHistogram).
 * Keeping it out of the server's process is the point: the server's CPU per answer is then its
 * own, and a closed loop on its event loop cannot flatter or starve it.
 */
import autocannon from 'autocannon';
import * as hdr from 'hdr-histogram-js';
import type { GeneratorMessage, LoadResult, LoadSpec } from './load-spec.js';

const send = (message: GeneratorMessage) => process.send?.(message);

/** Per-path counters survive across runs so that an item's next bid is always the new highest. */
const perPath = new Map<string, number>();
let shared = 0;

function nextCents(spec: LoadSpec, path: string): number {
  const a = spec.amount;
  if (a.kind === 'fixed') return a.cents;
  if (a.kind === 'shared') {
    shared = Math.max(shared, a.startCents) + 1;
    return shared;
  }
  const next = Math.max(perPath.get(path) ?? 0, a.startCents) + 1;
  perPath.set(path, next);
  return next;
}

async function run(spec: LoadSpec): Promise<LoadResult> {
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const steady = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  if (spec.cyclePaths && spec.connections > spec.paths.length)
    throw new Error(`cyclePaths: ${spec.connections} connections for ${spec.paths.length} paths`);
  const answered = new WeakSet<object>();
  const statuses: Record<string, number> = {};
  const seqs: Record<string, number[]> = {};
  let answers = 0;
  let clientIndex = 0;
  const started = performance.now();
  let finish: (result: autocannon.Result) => void = () => undefined;
  let fail: (err: unknown) => void = () => undefined;
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const instance = autocannon(
    {
      // autocannon takes a list too (connection i goes to url i % length); its types say string.
      url: (typeof spec.url === 'string' ? spec.url : [...spec.url]) as string,
      connections: spec.connections,
      duration: spec.durationS,
      pipelining: 1,
      timeout: 30,
      setupClient(client) {
        const i = clientIndex++;
        const paths = spec.cyclePaths
          ? spec.paths.filter((_, p) => p % spec.connections === i)
          : [spec.paths[i % spec.paths.length]!];
        const token = spec.tokens.length > 0 ? spec.tokens[i % spec.tokens.length] : undefined;
        const user = spec.users.length > 0 ? spec.users[i % spec.users.length] : undefined;
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (token) headers.authorization = `Bearer ${token}`;
        const reading = spec.classifyConflicts || spec.collectSeqs;
        // autocannon sends a client's requests in turn, one after the other's answer.
        client.setRequests(
          paths.map((path) => ({
            method: 'POST',
            path,
            headers,
            setupRequest(request: autocannon.Request) {
              const amount = (nextCents(spec, path) / 100).toFixed(2);
              request.body = user ? `{"user_id":"${user}","amount":"${amount}"}` : `{"amount":"${amount}"}`;
              return request;
            },
            ...(reading
              ? {
                  onResponse(status: number, body: string) {
                    if (status === 201 && spec.collectSeqs) {
                      const seq = Number(/"seq":(\d+)/.exec(body)?.[1] ?? Number.NaN);
                      (seqs[path] ??= []).push(seq);
                    } else if (status === 409 && spec.classifyConflicts) {
                      const code = /"error":"([a-z_]+)"/.exec(body)?.[1] ?? 'unknown';
                      statuses[`409:${code}`] = (statuses[`409:${code}`] ?? 0) + 1;
                    }
                  },
                }
              : {}),
          })),
        );
      },
    },
    (err: unknown, result: autocannon.Result) => (err ? fail(err) : finish(result)),
  );
  instance.on('response', (client, statusCode, _bytes, responseTimeMs) => {
    answers++;
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    const us = Math.max(1, Math.round(responseTimeMs * 1000));
    histogram.recordValue(us);
    if (answered.has(client)) steady.recordValue(us);
    else answered.add(client);
  });
  const result = await finished;
  return {
    answers,
    statuses,
    histogram: hdr.encodeIntoCompressedBase64(histogram),
    steadyHistogram: hdr.encodeIntoCompressedBase64(steady),
    errors: result.errors,
    timeouts: result.timeouts,
    seconds: (performance.now() - started) / 1000,
    ...(spec.collectSeqs ? { seqs } : {}),
  };
}

process.on('message', (spec: LoadSpec) => {
  run(spec).then(
    (result) => send({ type: 'done', result }),
    (err: unknown) => send({ type: 'failed', error: String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
