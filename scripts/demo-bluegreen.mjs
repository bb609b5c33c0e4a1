#!/usr/bin/env node
// `npm run demo:bluegreen`: seed 002's demo on a laptop. Users watch an item and chat in its room
// through the local blue/green proxy while bids and messages flow; the split moves
// 90/10 → 50/50 → 10/90 → 0/100, new users landing by weight and existing ones staying where
// they are (as behind the ALB), and at 0/100 blue drains: its users move to green. It prints
// what users saw — disconnections they would notice, messages lost and duplicated, the longest
// gap of a move — and exits 1 if any of the first three is not 0.
// Against a running `npm start` (default), or the URLs given.
import { parseArgs, styleText } from 'node:util';
import { SocketIoUser, WsUser } from './dev-stack/demo-clients.mjs';

const { values: o } = parseArgs({
  options: {
    api: { type: 'string', default: `http://127.0.0.1:${process.env.API_PORT ?? 8080}` },
    broadcast: { type: 'string', default: `http://127.0.0.1:${process.env.BROADCAST_PORT ?? 8081}` },
    users: { type: 'string', default: '40' },
    'step-s': { type: 'string', default: '4' },
    rate: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (o.help) {
  console.log(`npm run demo:bluegreen -- [--users 40] [--step-s 4] [--rate 10] [--json]
  --users    users per step, half Socket.IO, half /ws (each step brings new ones, as users come and go)
  --step-s   seconds of bids and chat at each split
  --rate     bids per second, and as many chat messages
  --api, --broadcast   the stack (default: the local npm start: the api and the blue/green proxy)`);
  process.exit(0);
}
const usersPerStep = positiveInt('users', o.users);
const stepS = positiveInt('step-s', o['step-s']);
const rate = positiveInt('rate', o.rate);
const say = (line) => (o.json ? process.stderr : process.stdout).write(`${line}\n`);

function positiveInt(name, value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) {
    console.error(`demo:bluegreen: --${name} must be an integer from 1 to 10000`);
    process.exit(2);
  }
  return n;
}

async function call(url, init = {}) {
  const res = await fetch(url, {
    ...init,
    headers: { 'content-type': 'application/json', ...init.headers },
    signal: AbortSignal.timeout(15_000),
  });
  const body = await res.json().catch(() => ({}));
  return { status: res.status, body };
}

async function token(userId) {
  const { status, body } = await call(`${o.api}/api/v1/dev/token`, {
    method: 'POST',
    body: JSON.stringify({ userId }),
  });
  if (status !== 200)
    throw new Error(`dev token: HTTP ${status} (the demo needs DEV_TOKENS=true, as npm start sets)`);
  return body.token;
}

const setWeights = (blue) =>
  call(`${o.broadcast}/__gavel/weights`, {
    method: 'PUT',
    body: JSON.stringify({ blue, green: 100 - blue }),
  });

async function proxyStatus() {
  const { status, body } = await call(`${o.broadcast}/__gavel/proxy`).catch(() => ({ status: 0 }));
  if (status !== 200) {
    throw new Error(`no blue/green proxy at ${o.broadcast} (start the stack with \`npm start\` first)`);
  }
  return body;
}

async function waitUntil(probe, what, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main() {
  const before = await proxyStatus();
  const run = `bg-${Date.now().toString(36)}`;
  const itemId = run;
  const [bidderToken, chatterToken] = await Promise.all([token(`${run}-bidder`), token(`${run}-chatter`)]);
  const created = await call(`${o.api}/api/v1/items`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bidderToken}` },
    body: JSON.stringify({
      id: itemId,
      title: 'Blue/green demo lot',
      startingPrice: '1.00',
      minIncrement: '0.01',
      endsAt: new Date(Date.now() + 3600_000).toISOString(),
    }),
  });
  if (created.status !== 201)
    throw new Error(`creating the item: HTTP ${created.status} ${JSON.stringify(created.body)}`);

  const users = [];
  const arrive = async (step) => {
    const tokens = await Promise.all(
      Array.from({ length: usersPerStep }, (_, i) => token(`${run}-s${step}-u${i}`)),
    );
    const fresh = tokens.map(
      (t, i) =>
        new (i % 2 === 0 ? SocketIoUser : WsUser)({ url: o.broadcast, token: t, itemId, roomId: itemId }),
    );
    await Promise.all(fresh.map((u) => u.ready));
    users.push(...fresh);
    return fresh;
  };

  // The load: bids over HTTP, chat from one sender that resends a message with the same
  // clientMsgId until it is acknowledged (the server keeps one copy).
  const acceptedSeqs = [];
  const sentCursors = [];
  let stopLoad = false;
  let amountCents = 100;
  const bidding = (async () => {
    while (!stopLoad) {
      amountCents += 1;
      const key = `${run}-${amountCents}`;
      for (let attempt = 0; attempt < 5; attempt++) {
        const res = await call(`${o.api}/api/v1/items/${itemId}/bid`, {
          method: 'POST',
          headers: { authorization: `Bearer ${bidderToken}`, 'idempotency-key': key },
          body: JSON.stringify({ amount: (amountCents / 100).toFixed(2) }),
        }).catch(() => ({ status: 0 }));
        if (res.status === 201) {
          acceptedSeqs.push(res.body.seq);
          break;
        }
        if (res.status !== 0 && res.status < 500 && res.status !== 429) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      await new Promise((r) => setTimeout(r, 1000 / rate));
    }
  })();
  const chatter = new SocketIoUser({ url: o.broadcast, token: chatterToken, itemId, roomId: itemId });
  await chatter.ready;
  const chatting = (async () => {
    for (let n = 0; !stopLoad; n++) {
      const clientMsgId = `${run}-m${n}`;
      for (;;) {
        const ack = await chatter.socket
          .timeout(10_000)
          .emitWithAck('chat:send', { roomId: itemId, text: `message ${n}`, clientMsgId })
          .catch(() => undefined);
        if (ack?.ok) {
          sentCursors.push(ack.cursor);
          break;
        }
        if (stopLoad) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      await new Promise((r) => setTimeout(r, 1000 / rate));
    }
  })();

  const steps = [
    { label: '90/10', blue: 90 },
    { label: '50/50', blue: 50 },
    { label: '10/90', blue: 10 },
    { label: '0/100', blue: 0, drainBlue: true },
  ];
  const rows = [];
  for (const [i, step] of steps.entries()) {
    await setWeights(step.blue);
    const fresh = await arrive(i);
    const landed = { blue: 0, green: 0 };
    for (const u of fresh) landed[u.record.colours.at(-1)] = (landed[u.record.colours.at(-1)] ?? 0) + 1;
    if (step.drainBlue) {
      const { status } = await call(`${o.broadcast}/__gavel/drain/blue`, { method: 'POST' });
      if (status !== 202) throw new Error(`could not drain blue (HTTP ${status})`);
      // Every user is back on a connection whose resume finished, all of them on green.
      await waitUntil(
        () =>
          [...users, chatter].every(
            (u) =>
              u.record.colours.at(-1) === 'green' &&
              u.record.gapsMs.length >= u.record.colours.filter((c) => c === 'blue').length,
          ),
        'every user to move to green',
        120_000,
      );
    }
    await new Promise((r) => setTimeout(r, stepS * 1000));
    const on = { blue: 0, green: 0 };
    for (const u of users) on[u.record.colours.at(-1)] = (on[u.record.colours.at(-1)] ?? 0) + 1;
    rows.push({ split: step.label, newUsers: landed, connectedTo: on });
    say(
      `${step.label.padEnd(6)} new users: blue ${landed.blue}, green ${landed.green}; ` +
        `all users now on blue ${on.blue}, green ${on.green}${step.drainBlue ? ' (blue drained)' : ''}`,
    );
  }
  stopLoad = true;
  await Promise.all([bidding, chatting]);
  const lastSeq = Math.max(0, ...acceptedSeqs);
  const lastCursor = Math.max(0, ...sentCursors);
  await waitUntil(
    () => users.every((u) => u.record.lastSeq >= lastSeq && u.record.lastCursor >= lastCursor),
    'the last bid and message at every user',
  ).catch(() => undefined);

  // The verdict, user by user.
  let lost = 0;
  let duplicated = 0;
  let visible = 0;
  let longestGapMs = 0;
  let moves = 0;
  for (const u of users) {
    const r = u.record;
    const expectedSeqs = acceptedSeqs.filter((s) => s > r.firstSeq);
    const expectedCursors = sentCursors.filter((c) => c > r.firstCursor);
    const seen = new Set(r.seqs);
    const seenCursors = new Set(r.cursors);
    lost +=
      expectedSeqs.filter((s) => !seen.has(s)).length +
      expectedCursors.filter((c) => !seenCursors.has(c)).length;
    duplicated += r.seqs.length - seen.size + (r.cursors.length - seenCursors.size);
    visible += r.visibleDisconnects;
    moves += r.gapsMs.length;
    longestGapMs = Math.max(longestGapMs, ...r.gapsMs);
  }
  const summary = {
    users: users.length,
    bids: acceptedSeqs.length,
    messages: sentCursors.length,
    moves,
    visibleDisconnections: visible,
    lost,
    duplicated,
    longestGapMs,
    steps: rows,
    proxyBefore: before.weights,
  };
  for (const u of [...users, chatter]) u.close();
  await setWeights(before.weights.blue);
  const ok = visible === 0 && lost === 0 && duplicated === 0;
  if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  say(
    `${users.length} users (half Socket.IO, half /ws), ${summary.bids} bids, ${summary.messages} chat messages, ` +
      `${moves} moves between colours`,
  );
  say(
    styleText(
      ok ? 'green' : 'red',
      `disconnections users saw: ${visible}   lost: ${lost}   duplicated: ${duplicated}`,
    ) + `   longest gap of a move: ${longestGapMs} ms`,
  );
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  console.error(`demo:bluegreen: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
