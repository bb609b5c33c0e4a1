// A few auctions with bids and chat, so that a first look at the local page is not empty.
// Safe to run again: items that exist are left alone, chat carries stable clientMsgIds.
import { io } from 'socket.io-client';

const HOUR = 3600_000;

/** The demo's auctions; ids are fixed so that a second run finds them. */
export const DEMO_ITEMS = [
  {
    id: 'demo-camera',
    title: 'Leica M3 rangefinder, 1956',
    startingPrice: '450.00',
    minIncrement: '10.00',
    hours: 2,
  },
  {
    id: 'demo-guitar',
    title: 'Fender Stratocaster, sunburst',
    startingPrice: '900.00',
    minIncrement: '25.00',
    hours: 6,
  },
  {
    id: 'demo-poster',
    title: 'Original 1977 film poster',
    startingPrice: '120.00',
    minIncrement: '5.00',
    hours: 24,
  },
];
const BIDDERS = ['alice', 'bob', 'carol'];
const CHAT = [
  ['lobby', 'alice', 'Hi all, first time here.'],
  ['lobby', 'bob', 'Welcome! The camera is the one to watch.'],
  ['demo-camera', 'carol', 'Does it come with the original lens?'],
  ['demo-camera', 'alice', 'The listing says Summicron 50 mm.'],
  ['demo-guitar', 'bob', 'Serial number dates it to 1979.'],
];

/**
 * @param {{ apiUrl: string, broadcastUrl: string, authMode: 'jwt' | 'open', log: (line: string) => void }} options
 * @returns {Promise<{ items: number, bids: number, messages: number }>}
 */
export async function seedDemo({ apiUrl, broadcastUrl, authMode, log }) {
  const credentials = new Map();
  for (const userId of BIDDERS) {
    credentials.set(userId, authMode === 'jwt' ? { token: await devToken(apiUrl, userId) } : { userId });
  }
  const headers = (userId) => ({
    'content-type': 'application/json',
    ...(authMode === 'jwt' ? { authorization: `Bearer ${credentials.get(userId).token}` } : {}),
  });

  let items = 0;
  let bids = 0;
  for (const item of DEMO_ITEMS) {
    const created = await fetch(`${apiUrl}/api/v1/items`, {
      method: 'POST',
      headers: headers(BIDDERS[0]),
      body: JSON.stringify({
        ...item,
        hours: undefined,
        endsAt: new Date(Date.now() + item.hours * HOUR).toISOString(),
      }),
    });
    if (created.status === 409) continue; // seeded before
    if (created.status !== 201)
      throw new Error(`creating ${item.id}: HTTP ${created.status} ${await created.text()}`);
    items++;
    // A short bidding war, each bid one increment above the last.
    let amount = Number(item.startingPrice);
    for (let round = 0; round < 4; round++) {
      const userId = BIDDERS[round % BIDDERS.length];
      const res = await fetch(`${apiUrl}/api/v1/items/${item.id}/bid`, {
        method: 'POST',
        headers: { ...headers(userId), 'idempotency-key': `demo-${item.id}-${round}` },
        body: JSON.stringify({ userId, amount: amount.toFixed(2) }),
      });
      if (res.status !== 201) throw new Error(`bid on ${item.id}: HTTP ${res.status} ${await res.text()}`);
      bids++;
      amount += Number(item.minIncrement) * (round + 1);
    }
  }

  let messages = 0;
  for (const userId of BIDDERS) {
    const lines = CHAT.map((line, n) => ({ line, n })).filter(({ line }) => line[1] === userId);
    if (lines.length === 0) continue;
    const socket = io(broadcastUrl, {
      transports: ['websocket'],
      auth: credentials.get(userId),
      reconnection: false,
    });
    try {
      await new Promise((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      for (const { line, n } of lines) {
        const [roomId, , text] = line;
        await ack(socket, 'room:join', { roomId });
        await ack(socket, 'chat:send', { roomId, text, clientMsgId: `demo-chat-${n}` });
        messages++;
      }
    } finally {
      socket.close();
    }
  }
  log(`demo data: ${items} new auctions, ${bids} bids, ${messages} chat messages`);
  return { items, bids, messages };
}

async function devToken(apiUrl, userId) {
  const res = await fetch(`${apiUrl}/api/v1/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  if (!res.ok) throw new Error(`dev token for ${userId}: HTTP ${res.status} (is DEV_TOKENS=true?)`);
  return (await res.json()).token;
}

async function ack(socket, event, payload) {
  const answer = await socket.timeout(10_000).emitWithAck(event, payload);
  if (!answer?.ok) throw new Error(`${event}: ${answer?.error ?? 'no ack'} ${answer?.message ?? ''}`);
  return answer;
}
