import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { formatCents } from '@gavel/shared';
import { waitFor } from '@gavel/shared/testing';
import type { FaultWorld } from './fault-world.js';

/**
 * Steady traffic through the whole stack while faults happen, recorded as clients see it:
 * bidders (HTTP, an Idempotency-Key per bid, retried with the same key until a definite answer,
 * as the page and the CLI do), chatters and a DM sender (Socket.IO, a clientMsgId per message,
 * retried until acknowledged), and watchers on both transports that watch every item and join
 * every room, resuming after a disconnect from the last bid (`afterSeq`) and chat (`afterCursor`)
 * they have. Everything a client was told is kept, for `verify`.
 */

export interface TrafficOptions {
  /** @default 3 */
  readonly items?: number;
  /** @default 2 */
  readonly biddersPerItem?: number;
  /** @default 2 */
  readonly rooms?: number;
  /** @default 1 */
  readonly chattersPerRoom?: number;
  /** Socket.IO watchers. @default 2 */
  readonly watchers?: number;
  /** Plain-WebSocket watchers. @default 1 */
  readonly wsWatchers?: number;
  /** Pause between one client's requests. @default 40 */
  readonly paceMs?: number;
}

interface AcceptedBid {
  readonly userId: string;
  readonly amountCents: number;
}

interface AckedMessage {
  readonly id: string;
  readonly clientMsgId: string;
  readonly roomId: string;
}

/** What one watching client received. */
class WatcherRecord {
  readonly bids = new Map<string, number[]>();
  readonly chats = new Map<string, string[]>();
  readonly cursors = new Map<string, number>();
  readonly dms: string[] = [];
  readonly problems: string[] = [];
  reconnects = 0;

  constructor(readonly name: string) {}

  lastSeq(itemId: string): number {
    const seqs = this.bids.get(itemId);
    return seqs?.[seqs.length - 1] ?? 0;
  }

  onBid(itemId: string, seq: number): void {
    const seqs = this.bids.get(itemId) ?? [];
    this.bids.set(itemId, seqs);
    const last = seqs[seqs.length - 1] ?? 0;
    if (seq <= last) this.problems.push(`${this.name}: ${itemId} seq ${seq} again after ${last}`);
    else if (seq !== last + 1) this.problems.push(`${this.name}: ${itemId} gap: ${seq} after ${last}`);
    seqs.push(seq);
  }

  onChat(roomId: string, id: string, cursor: number): void {
    const ids = this.chats.get(roomId) ?? [];
    this.chats.set(roomId, ids);
    const last = this.cursors.get(roomId) ?? 0;
    if (cursor <= last) this.problems.push(`${this.name}: ${roomId} cursor ${cursor} after ${last}`);
    if (ids.includes(id)) this.problems.push(`${this.name}: chat ${id} twice`);
    ids.push(id);
    this.cursors.set(roomId, Math.max(last, cursor));
  }
}

const ACK_TIMEOUT_MS = 10_000;

export class Traffic {
  readonly tag = `f${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  readonly items: string[];
  readonly rooms: string[];
  readonly dmFrom: string;
  readonly dmTo: string;
  private readonly accepted = new Map<string, Map<number, AcceptedBid>>();
  private readonly highest = new Map<string, number>();
  private readonly chats: AckedMessage[] = [];
  private readonly dms: AckedMessage[] = [];
  private readonly watchers: WatcherRecord[] = [];
  private readonly dmInbox = new WatcherRecord('dm recipient');
  /** Answers no client should ever get (5xx other than 503, a 4xx to a valid request, …). */
  readonly problems: string[] = [];
  /** How often each kind of retryable answer was seen (what the faults did to clients). */
  readonly retries = new Map<string, number>();
  private readonly sockets: Socket[] = [];
  private readonly wsClients: Array<{ close(): void }> = [];
  private readonly loops: Promise<void>[] = [];
  private stopping = false;
  private readonly options: Required<TrafficOptions>;

  constructor(
    private readonly world: FaultWorld,
    options: TrafficOptions = {},
  ) {
    this.options = {
      items: 3,
      biddersPerItem: 2,
      rooms: 2,
      chattersPerRoom: 1,
      watchers: 2,
      wsWatchers: 1,
      paceMs: 40,
      ...options,
    };
    this.items = Array.from({ length: this.options.items }, (_, i) => `${this.tag}_item${i}`);
    this.rooms = Array.from({ length: this.options.rooms }, (_, i) => `${this.tag}_room${i}`);
    this.dmFrom = `${this.tag}_dmfrom`;
    this.dmTo = `${this.tag}_dmto`;
  }

  /** Opens the items, connects every client and starts the loops. */
  async start(): Promise<void> {
    for (const itemId of this.items) await this.createItem(itemId);
    for (let i = 0; i < this.options.watchers; i++) await this.sioWatcher(i);
    for (let i = 0; i < this.options.wsWatchers; i++) await this.wsWatcher(i);
    const inbox = await this.connect(this.dmTo, 'phone');
    // As the page and the CLI do: the next handshake names the newest DM feed event we have, so a
    // replica killed before it noted the device's place sends nothing twice.
    const noteCursor = (cursor: number) => {
      const auth = inbox.auth as Record<string, unknown>;
      if (!(cursor <= Number(auth.dmAfterCursor ?? -1))) inbox.auth = { ...auth, dmAfterCursor: cursor };
    };
    inbox.on('dm:delivered', (r: { cursor: number }) => noteCursor(r.cursor));
    inbox.on('dm:read', (r: { cursor: number }) => noteCursor(r.cursor));
    inbox.on('dm', (m: { id: string; to: string; cursor: number }) => {
      noteCursor(m.cursor);
      if (m.to !== this.dmTo) return;
      if (this.dmInbox.dms.includes(m.id)) this.dmInbox.problems.push(`dm ${m.id} twice`);
      this.dmInbox.dms.push(m.id);
    });
    for (const itemId of this.items) {
      this.highest.set(itemId, 100);
      for (let b = 0; b < this.options.biddersPerItem; b++)
        this.loops.push(this.bidLoop(itemId, `${this.tag}_bidder${b}`));
    }
    for (const roomId of this.rooms) {
      for (let c = 0; c < this.options.chattersPerRoom; c++)
        this.loops.push(this.chatLoop(roomId, `${this.tag}_${roomId.split('_').pop()}_chatter${c}`));
    }
    this.loops.push(this.dmLoop());
  }

  /** Accepted bids, acknowledged chats and DMs so far. */
  counts(): { bids: number; chats: number; dms: number } {
    let bids = 0;
    for (const seqs of this.accepted.values()) bids += seqs.size;
    return { bids, chats: this.chats.length, dms: this.dms.length };
  }

  /** Waits until `more` further bids, chats and DMs have been acknowledged (traffic flows). */
  async flowing(more = { bids: 20, chats: 4, dms: 2 }, timeoutMs = 90_000): Promise<void> {
    const from = this.counts();
    await waitFor(
      () => {
        const now = this.counts();
        return (
          now.bids >= from.bids + more.bids &&
          now.chats >= from.chats + more.chats &&
          now.dms >= from.dms + more.dms
        );
      },
      { timeoutMs, intervalMs: 100, what: `traffic to flow (${JSON.stringify(this.counts())})` },
    );
  }

  /** Stops the loops; each finishes its request in flight to a definite answer first. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  close(): void {
    this.stopping = true;
    for (const s of this.sockets) s.close();
    for (const w of this.wsClients) w.close();
  }

  /**
   * After stop(): waits until PostgreSQL and every watcher have caught up, then reports every
   * difference between what clients were told and what was stored and delivered.
   */
  async verify(): Promise<VerifyReport> {
    const pool = this.world.pool();
    const expected = new Map<string, number>();
    for (const itemId of this.items) expected.set(itemId, this.accepted.get(itemId)?.size ?? 0);
    const report: VerifyReport = { bids: 0, chats: this.chats.length, dms: this.dms.length, problems: [] };
    const problems = report.problems;
    problems.push(...this.problems);

    for (const [itemId, seqs] of this.accepted) {
      report.bids += seqs.size;
      const n = seqs.size;
      for (let seq = 1; seq <= n; seq++)
        if (!seqs.has(seq)) problems.push(`${itemId}: no client was answered seq ${seq} of ${n}`);
    }

    // PostgreSQL: exactly the accepted bids, chats and DMs.
    const itemIds = [...expected.keys()];
    await waitFor(
      async () => {
        const { rows } = await pool.query<{ item_id: string; n: string }>(
          'SELECT item_id, count(*) AS n FROM bids WHERE item_id = ANY($1) GROUP BY item_id',
          [itemIds],
        );
        const stored = new Map(rows.map((r) => [r.item_id, Number(r.n)]));
        return itemIds.every((id) => (stored.get(id) ?? 0) >= (expected.get(id) ?? 0));
      },
      { timeoutMs: 120_000, intervalMs: 250, what: 'every accepted bid in PostgreSQL' },
    ).catch((err: unknown) => problems.push(String(err)));
    const bidRows = await pool.query<{
      item_id: string;
      seq: number;
      user_id: string;
      amount_cents: string;
      event_id: string;
    }>(
      'SELECT item_id, seq, user_id, amount_cents, event_id FROM bids WHERE item_id = ANY($1) ORDER BY item_id, seq',
      [itemIds],
    );
    const eventIds = new Set<string>();
    const storedSeqs = new Map<string, number[]>();
    for (const row of bidRows.rows) {
      if (eventIds.has(row.event_id)) problems.push(`bid event ${row.event_id} stored twice`);
      eventIds.add(row.event_id);
      (storedSeqs.get(row.item_id) ?? storedSeqs.set(row.item_id, []).get(row.item_id))?.push(row.seq);
      const answer = this.accepted.get(row.item_id)?.get(row.seq);
      if (!answer) problems.push(`${row.item_id} seq ${row.seq} stored but never accepted for a client`);
      else if (answer.userId !== row.user_id || answer.amountCents !== Number(row.amount_cents))
        problems.push(
          `${row.item_id} seq ${row.seq} stored as ${row.user_id}/${row.amount_cents}, answered as ${answer.userId}/${answer.amountCents}`,
        );
    }
    for (const [itemId, n] of expected) {
      const seqs = storedSeqs.get(itemId) ?? [];
      if (seqs.length !== n || seqs.some((s, i) => s !== i + 1))
        problems.push(`${itemId}: PostgreSQL has seqs ${compact(seqs)}, expected 1..${n}`);
    }
    const items = await pool.query<{ id: string }>('SELECT id FROM items WHERE id = ANY($1)', [itemIds]);
    if (items.rows.length !== itemIds.length)
      problems.push(`PostgreSQL has ${items.rows.length} of ${itemIds.length} items`);

    await this.verifyMessages('chat_messages', 'room_id = ANY($1)', [this.rooms], this.chats, problems);
    await this.verifyMessages('direct_messages', 'from_user = $1', [this.dmFrom], this.dms, problems);

    // Watchers: every accepted bid once, in order; every chat of their rooms once.
    for (const w of this.watchers) {
      await waitFor(
        () =>
          itemIds.every((id) => w.lastSeq(id) >= (expected.get(id) ?? 0)) &&
          this.rooms.every((r) =>
            this.chats.filter((c) => c.roomId === r).every((c) => w.chats.get(r)?.includes(c.id)),
          ),
        { timeoutMs: 60_000, intervalMs: 100, what: `${w.name} to catch up` },
      ).catch((err: unknown) => problems.push(String(err)));
      problems.push(...w.problems);
      for (const [itemId, n] of expected) {
        const seqs = w.bids.get(itemId) ?? [];
        if (seqs.length !== n || seqs.some((s, i) => s !== i + 1))
          problems.push(`${w.name}: ${itemId} got ${compact(seqs)}, expected 1..${n}`);
      }
      for (const roomId of this.rooms) {
        const got = new Set(w.chats.get(roomId) ?? []);
        const missing = this.chats.filter((c) => c.roomId === roomId && !got.has(c.id));
        if (missing.length > 0)
          problems.push(`${w.name}: ${missing.length} chats of ${roomId} never arrived`);
      }
    }
    await waitFor(() => this.dms.every((d) => this.dmInbox.dms.includes(d.id)), {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: 'the DM recipient to catch up',
    }).catch((err: unknown) => problems.push(String(err)));
    problems.push(...this.dmInbox.problems);
    const unexpected = this.dmInbox.dms.filter((id) => !this.dms.some((d) => d.id === id));
    if (unexpected.length > 0)
      problems.push(`the DM recipient got ${unexpected.length} DMs never acknowledged`);
    return report;
  }

  private async verifyMessages(
    table: 'chat_messages' | 'direct_messages',
    where: string,
    params: unknown[],
    acked: readonly AckedMessage[],
    problems: string[],
  ): Promise<void> {
    const pool = this.world.pool();
    const query = () =>
      pool.query<{ id: string; client_msg_id: string }>(
        `SELECT id, client_msg_id FROM ${table} WHERE ${where}`,
        params,
      );
    await waitFor(async () => (await query()).rows.length >= acked.length, {
      timeoutMs: 120_000,
      intervalMs: 250,
      what: `every acknowledged message in ${table}`,
    }).catch((err: unknown) => problems.push(String(err)));
    const rows = (await query()).rows;
    const ackedIds = new Set(acked.map((m) => m.id));
    const storedIds = new Set(rows.map((r) => r.id));
    const clientIds = new Set(rows.map((r) => r.client_msg_id));
    if (clientIds.size !== rows.length) problems.push(`${table}: a clientMsgId stored twice`);
    const lost = acked.filter((m) => !storedIds.has(m.id));
    if (lost.length > 0) problems.push(`${table}: ${lost.length} acknowledged messages lost`);
    const extra = rows.filter((r) => !ackedIds.has(r.id));
    if (extra.length > 0)
      problems.push(`${table}: ${extra.length} messages stored that no sender was acknowledged`);
  }

  // ---- clients ----------------------------------------------------------------------------------

  private async http(
    method: string,
    path: string,
    userId: string,
    body: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Record<string, unknown>; error?: string }> {
    try {
      const res = await fetch(`${this.world.url('api')}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${await this.world.token(userId)}`,
          'content-type': 'application/json',
          ...headers,
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(20_000),
      });
      const text = await res.text();
      let parsed: Record<string, unknown> = {};
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        parsed = { raw: text };
      }
      return { status: res.status, body: parsed };
    } catch (err) {
      return { status: 0, body: {}, error: String(err) };
    }
  }

  private countRetry(kind: string): void {
    this.retries.set(kind, (this.retries.get(kind) ?? 0) + 1);
  }

  private async createItem(itemId: string): Promise<void> {
    const body = {
      id: itemId,
      title: `Fault item ${itemId}`,
      startingPrice: '1.00',
      minIncrement: '0.01',
      endsAt: new Date(Date.now() + 3_600_000).toISOString(),
    };
    await waitFor(
      async () => {
        const res = await this.http('POST', '/api/v1/items', `${this.tag}_seller`, body);
        return res.status === 201 || res.status === 409;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `item ${itemId} to open` },
    );
  }

  /** One bidder on one item: outbids the highest it knows of, each bid retried to a definite answer. */
  private async bidLoop(itemId: string, userId: string): Promise<void> {
    while (!this.stopping) {
      const amountCents = (this.highest.get(itemId) ?? 100) + 1 + Math.floor(Math.random() * 3);
      const key = randomUUID();
      for (let attempt = 0; ; attempt++) {
        const res = await this.http(
          'POST',
          `/api/v1/items/${itemId}/bid`,
          userId,
          { amount: formatCents(amountCents) },
          { 'idempotency-key': key },
        );
        if (res.status === 201) {
          const seq = Number(res.body.seq);
          const seqs = this.accepted.get(itemId) ?? new Map<number, AcceptedBid>();
          this.accepted.set(itemId, seqs);
          const had = seqs.get(seq);
          if (had && (had.userId !== userId || had.amountCents !== amountCents))
            this.problems.push(`${itemId} seq ${seq} answered to two different bids`);
          seqs.set(seq, { userId, amountCents });
          this.highest.set(itemId, Math.max(this.highest.get(itemId) ?? 0, amountCents));
          break;
        }
        if (res.status === 409 && res.body.error === 'bid_too_low') {
          const highest = Number(res.body.highestCents);
          if (Number.isFinite(highest))
            this.highest.set(itemId, Math.max(this.highest.get(itemId) ?? 0, highest));
          break;
        }
        // 0: no answer (refused, reset, timed out); 503: dependency_unavailable or outcome_unknown.
        if (res.status === 0 || res.status === 503 || res.status === 429) {
          this.countRetry(
            res.status === 0 ? 'bid: no answer' : `bid: ${res.status} ${String(res.body.error)}`,
          );
          if (attempt > 2000) {
            this.problems.push(`${itemId}: bid never got a definite answer`);
            break;
          }
          await sleep(Math.min(1000, 50 * (attempt + 1)));
          continue;
        }
        this.problems.push(`${itemId}: bid answered ${res.status} ${JSON.stringify(res.body)}`);
        break;
      }
      await sleep(this.options.paceMs);
    }
  }

  private async connect(userId: string, deviceId: string): Promise<Socket> {
    const socket = io(this.world.url('broadcast'), {
      path: '/socket.io',
      transports: ['websocket'],
      auth: { token: await this.world.token(userId), deviceId },
      reconnection: true,
      reconnectionDelay: 200,
      reconnectionDelayMax: 1000,
      forceNew: true,
    });
    this.sockets.push(socket);
    await waitFor(() => socket.connected, { timeoutMs: 60_000, what: `${userId} to connect` });
    return socket;
  }

  /**
   * Sends `event` until it is acknowledged ok: true. False when it was refused (recorded as a
   * problem), or when the socket dropped or `current` turned false (the caller subscribes again).
   */
  private async ackOk(
    socket: Socket,
    event: string,
    payload: Record<string, unknown>,
    current: () => boolean,
  ): Promise<boolean> {
    while (socket.connected && current()) {
      try {
        const ack = (await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload)) as Record<
          string,
          unknown
        >;
        if (ack.ok === true) return true;
        if (ack.code !== 'unavailable') {
          this.problems.push(`${event} refused: ${JSON.stringify(ack)}`);
          return false;
        }
        this.countRetry(`${event}: unavailable`);
      } catch {
        this.countRetry(`${event}: no ack`);
      }
      await sleep(300);
    }
    return false;
  }

  private async sioWatcher(i: number): Promise<void> {
    const record = new WatcherRecord(`socket.io watcher ${i}`);
    this.watchers.push(record);
    const socket = await this.connect(`${this.tag}_watcher${i}`, 'd');
    socket.on('bid', (b: { itemId: string; seq: number }) => record.onBid(b.itemId, b.seq));
    socket.on('chat', (m: { roomId: string; id: string; cursor: number }) =>
      record.onChat(m.roomId, m.id, m.cursor),
    );
    let generation = 0;
    const subscribe = async () => {
      const mine = ++generation;
      const current = () => mine === generation;
      for (const itemId of this.items)
        await this.ackOk(socket, 'item:watch', { itemId, afterSeq: record.lastSeq(itemId) }, current);
      for (const roomId of this.rooms)
        await this.ackOk(
          socket,
          'room:join',
          { roomId, afterCursor: record.cursors.get(roomId) ?? 0 },
          current,
        );
    };
    // 'connect' comes with every (re)connection of the namespace, once the socket can emit.
    let connects = 0;
    socket.on('connect', () => {
      if (connects++ > 0) record.reconnects += 1;
      void subscribe();
    });
    if (socket.connected && connects === 0) {
      connects = 1;
      await subscribe();
    }
  }

  private async wsWatcher(i: number): Promise<void> {
    const record = new WatcherRecord(`ws watcher ${i}`);
    this.watchers.push(record);
    const token = await this.world.token(`${this.tag}_wswatcher${i}`);
    let ws: WebSocket | undefined;
    let closed = false;
    this.wsClients.push({
      close: () => {
        closed = true;
        ws?.close();
      },
    });
    let opened = false;
    const open = () => {
      const socket = new WebSocket(`${this.world.url('broadcast').replace('http', 'ws')}/ws?token=${token}`);
      ws = socket;
      const retry = new Map<string, Record<string, unknown>>();
      const send = (frame: Record<string, unknown>) => {
        const reqId = randomUUID();
        retry.set(reqId, frame);
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ ...frame, reqId }));
      };
      socket.on('open', () => {
        if (opened) record.reconnects += 1;
        opened = true;
        for (const itemId of this.items) send({ type: 'watch', itemId, afterSeq: record.lastSeq(itemId) });
        for (const room of this.rooms) send({ type: 'join', room, after: record.cursors.get(room) ?? 0 });
      });
      socket.on('message', (data) => {
        const f = JSON.parse(String(data)) as Record<string, unknown>;
        if (f.type === 'bid') record.onBid(String(f.itemId), Number(f.seq));
        else if (f.type === 'chat') record.onChat(String(f.roomId), String(f.id), Number(f.cursor));
        else if (f.type === 'ack' && typeof f.reqId === 'string') retry.delete(f.reqId);
        else if (f.type === 'error' && typeof f.reqId === 'string') {
          const frame = retry.get(f.reqId);
          retry.delete(f.reqId);
          if (f.code !== 'unavailable' || !frame) {
            this.problems.push(`ws ${String(f.for)} refused: ${JSON.stringify(f)}`);
            return;
          }
          this.countRetry(`ws ${String(f.for)}: unavailable`);
          // Resume from what this watcher has now, not from what it had when it first asked.
          const again =
            frame.type === 'watch'
              ? { ...frame, afterSeq: record.lastSeq(String(frame.itemId)) }
              : { ...frame, after: record.cursors.get(String(frame.room)) ?? 0 };
          setTimeout(() => send(again), 300);
        }
      });
      socket.on('error', () => undefined);
      socket.on('close', () => {
        if (!closed) setTimeout(open, 200 + Math.random() * 300);
      });
    };
    open();
    await waitFor(() => opened, { timeoutMs: 60_000, what: `${record.name} to connect` });
  }

  /** A Socket.IO client that joins its room (again after each reconnect) and chats. */
  private async chatLoop(roomId: string, userId: string): Promise<void> {
    const socket = await this.connect(userId, 'd');
    let joined = false;
    socket.on('disconnect', () => (joined = false));
    for (let n = 0; !this.stopping; n++) {
      const clientMsgId = `${userId}-${n}`;
      for (;;) {
        if (!socket.connected) {
          await waitFor(() => socket.connected, { timeoutMs: 120_000, what: `${userId} to reconnect` });
        }
        if (!joined) {
          const problems = this.problems.length;
          joined = await this.ackOk(socket, 'room:join', { roomId }, () => true);
          if (this.problems.length > problems) return;
          if (!joined) continue;
        }
        try {
          const ack = (await socket
            .timeout(ACK_TIMEOUT_MS)
            .emitWithAck('chat:send', { roomId, text: `message ${n}`, clientMsgId })) as Record<
            string,
            unknown
          >;
          if (ack.ok === true) {
            this.chats.push({ id: String(ack.id), clientMsgId, roomId });
            break;
          }
          if (ack.code === 'not_in_room') joined = false;
          else if (ack.code !== 'unavailable') {
            this.problems.push(`chat:send refused: ${JSON.stringify(ack)}`);
            break;
          }
          this.countRetry(`chat:send: ${String(ack.code)}`);
        } catch {
          this.countRetry('chat:send: no ack');
        }
        await sleep(300);
      }
      await sleep(this.options.paceMs * 3);
    }
  }

  private async dmLoop(): Promise<void> {
    const socket = await this.connect(this.dmFrom, 'd');
    for (let n = 0; !this.stopping; n++) {
      const clientMsgId = `${this.dmFrom}-${n}`;
      for (;;) {
        if (!socket.connected)
          await waitFor(() => socket.connected, { timeoutMs: 120_000, what: 'the DM sender to reconnect' });
        try {
          const ack = (await socket
            .timeout(ACK_TIMEOUT_MS)
            .emitWithAck('dm:send', { to: this.dmTo, text: `dm ${n}`, clientMsgId })) as Record<
            string,
            unknown
          >;
          if (ack.ok === true) {
            this.dms.push({ id: String(ack.id), clientMsgId, roomId: '' });
            break;
          }
          if (ack.code !== 'unavailable') {
            this.problems.push(`dm:send refused: ${JSON.stringify(ack)}`);
            break;
          }
          this.countRetry('dm:send: unavailable');
        } catch {
          this.countRetry('dm:send: no ack');
        }
        await sleep(300);
      }
      await sleep(this.options.paceMs * 3);
    }
  }
}

export interface VerifyReport {
  bids: number;
  readonly chats: number;
  readonly dms: number;
  readonly problems: string[];
}

/** 1,2,3,5,6 → "1-3,5-6": a readable list of seqs for failure messages. */
function compact(seqs: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < seqs.length;) {
    let j = i;
    while (j + 1 < seqs.length && seqs[j + 1] === (seqs[j] ?? 0) + 1) j++;
    parts.push(i === j ? `${seqs[i]}` : `${seqs[i]}-${seqs[j]}`);
    i = j + 1;
  }
  return parts.join(',') || '(none)';
}
