import { randomUUID } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import type {
  AckOf,
  ClientToServerEvents,
  CommandInput,
  CommandName,
  CommandResult,
  ServerToClientEvents,
} from '@gavel/shared';
import type { ApiClient } from './api-client.js';
import { BID_TRIES, placeBidWithRetry } from './bid-retry.js';
import type { Command } from './command-parser.js';
import { helpText } from './command-parser.js';
import type { CompletionSources } from './completion.js';
import { ItemNumbers } from './item-numbers.js';
import {
  acceptedBidLine,
  bidLine,
  chatLine,
  closedLine,
  dmLine,
  extendedLine,
  itemLine,
  itemsLines,
  presenceLine,
  roomsLine,
  whoLine,
} from './output-format.js';

type Loose = Record<string, unknown>;

export interface ChatSessionOptions {
  /** Names this device, so that it catches up on DMs from where it was. @default "default" */
  readonly deviceId?: string;
  /** Origin of the broadcast service (Socket.IO at /socket.io). */
  readonly broadcastUrl: string;
  readonly token: string;
  readonly userId: string;
  readonly api: ApiClient;
  /** Writes one line of normal output. */
  readonly print: (line: string) => void;
  /** Writes one line of error output. */
  readonly printError: (line: string) => void;
  /** Chat history lines shown on /join. @default 10 */
  readonly historyLimit?: number;
  /** How long to wait for a server ack. @default 10000 */
  readonly ackTimeoutMs?: number;
  /**
   * Asks the user a yes/no question (e.g. before a bid opens a new auction).
   * @default always "no": without a way to ask, nothing is opened by surprise
   */
  readonly confirm?: (question: string) => Promise<boolean>;
}

/** A user-facing failure: printed as one line, the session goes on. */
export class CommandError extends Error {}

/**
 * Why the server ended the session: its token expired (`session:expired`), or a reconnect was
 * refused the token (it ended while the connection was down).
 */
export type SessionEnd = 'expired' | 'refused';

/** A refused ack is `{ok: false, code, message}`: the message reads best. */
function errorText(ack: { code?: unknown; message?: unknown }): string {
  if (typeof ack.message === 'string' && ack.message) return ack.message;
  if (typeof ack.code === 'string') return ack.code.replaceAll('_', ' ');
  return 'no reason given';
}

/**
 * One signed-in user's connection to the broadcast service: runs parsed commands and prints what
 * the server sends. Rooms and watched items are remembered so that a reconnect (to the same or
 * another replica) resumes them, asking for the bids after the last one seen.
 */
export class ChatSession {
  private readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  /** DMs this session sent: id → recipient, to tell delivery and read receipts apart. */
  private readonly sentDms = new Map<string, string>();
  private readonly rooms = new Set<string>();
  private currentRoom: string | undefined;
  /** Room → highest chat cursor seen (events and acks): where a re-join resumes. */
  private readonly chatCursors = new Map<string, number>();
  /** Rooms being re-joined with a cursor: their chat until the ack is what we missed. */
  private readonly catchingUp = new Set<string>();
  /** Watched item → last bid seq printed. */
  private readonly watched = new Map<string, number>();
  /** Ids of chat messages and DMs already printed (an ack and its echo must print once). */
  private readonly printed = new Set<string>();
  /** The numbers of the last /items list. */
  private readonly itemNumbers = new ItemNumbers();
  /** Items the api has shown to exist: a bid on one needs no question first. */
  private readonly knownItems = new Set<string>();
  /** Rooms and users seen, for Tab completion. */
  private readonly seenRooms = new Set<string>();
  private readonly seenUsers = new Set<string>();
  private everConnected = false;
  /** Settled while connected and resumed; user commands wait for it so none races a rejoin. */
  private ready: Promise<void> = Promise.resolve();
  private markReady: () => void = () => undefined;
  private outageReported = false;
  private endedWith: SessionEnd | undefined;
  private markEnded: (why: SessionEnd) => void = () => undefined;
  /** Settles when the server ended the session for good (see SessionEnd); never otherwise. */
  readonly ended: Promise<SessionEnd> = new Promise((resolve) => (this.markEnded = resolve));

  constructor(private readonly options: ChatSessionOptions) {
    this.socket = io(options.broadcastUrl, {
      auth: { token: options.token, ...(options.deviceId ? { deviceId: options.deviceId } : {}) },
      autoConnect: false,
      reconnectionDelayMax: 5_000,
    });
    this.listen();
  }

  get room(): string | undefined {
    return this.currentRoom;
  }

  /** Names Tab can complete: rooms, items and users this session has seen. */
  get completions(): CompletionSources {
    return {
      rooms: () => new Set([...this.rooms, ...this.seenRooms]),
      items: () => new Set([...this.itemNumbers.known, ...this.watched.keys()]),
      users: () => [...this.seenUsers].filter((u) => u !== this.options.userId),
    };
  }

  /** Resolves once connected; rejects with a readable reason if the first attempt fails. */
  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onConnect = () => {
        this.socket.off('connect_error', onError);
        resolve();
      };
      const onError = (err: Error) => {
        this.socket.off('connect', onConnect);
        this.socket.disconnect();
        const reason =
          err.message === 'unauthorized'
            ? 'the server refused the token (unauthorized)'
            : `cannot reach the broadcast service at ${this.options.broadcastUrl} (${err.message})`;
        reject(new Error(reason));
      };
      this.socket.once('connect', onConnect);
      this.socket.once('connect_error', onError);
      this.socket.connect();
    });
  }

  close(): void {
    this.socket.disconnect();
  }

  /**
   * A fresh token of the same user: sent on the live connection (`auth:refresh` moves its end to
   * the new token's `exp`) and kept for the next handshake, should the connection drop. Throws a
   * CommandError when the server refuses it.
   */
  async renewToken(token: string): Promise<void> {
    this.socket.auth = { ...(this.socket.auth as Record<string, unknown>), token };
    // Not connected: the reconnect's handshake carries the new token, which is all it needs.
    if (this.socket.connected) await this.request('auth:refresh', { token }, { resuming: true });
  }

  /**
   * The newest DM feed event this session has, sent at the next handshake: the feed resumes right
   * after it, so nothing comes twice even when the server that sent it was killed before it noted
   * the device's place.
   */
  private noteDmCursor(cursor: number): void {
    const auth = this.socket.auth as Record<string, unknown>;
    if (!(cursor <= Number(auth.dmAfterCursor ?? -1))) this.socket.auth = { ...auth, dmAfterCursor: cursor };
  }

  private end(why: SessionEnd): void {
    if (this.endedWith) return;
    this.endedWith = why;
    this.socket.disconnect();
    this.markEnded(why);
  }

  /** Runs one command; returns false when the session should end. */
  async execute(command: Command): Promise<boolean> {
    const { print } = this.options;
    switch (command.kind) {
      case 'none':
        return true;
      case 'help':
        print(`commands:\n${helpText()}`);
        return true;
      case 'quit':
        return false;
      case 'join': {
        const ack = await this.request('room:join', { roomId: command.roomId });
        this.rooms.add(command.roomId);
        this.noteCursor(command.roomId, ack.cursor);
        this.currentRoom = command.roomId;
        print(`* joined ${command.roomId} (now the current room)`);
        await this.showHistory(command.roomId);
        return true;
      }
      case 'leave': {
        const roomId = command.roomId ?? this.currentRoom;
        if (!roomId) throw new CommandError('no current room: /leave ROOM');
        await this.request('room:leave', { roomId });
        this.rooms.delete(roomId);
        this.chatCursors.delete(roomId);
        if (this.currentRoom === roomId) this.currentRoom = [...this.rooms].at(-1);
        print(`* left ${roomId}${this.currentRoom ? ` (current room: ${this.currentRoom})` : ''}`);
        return true;
      }
      case 'chat': {
        const roomId = this.currentRoom;
        if (!roomId) throw new CommandError('join a room first: /join ROOM');
        // A clientMsgId makes a retry after a lost ack safe: the server stores the message once.
        const clientMsgId = randomUUID();
        const ack = await this.request('chat:send', { roomId, text: command.text, clientMsgId });
        this.noteCursor(roomId, ack.cursor);
        this.printOnce(ack.id, () =>
          chatLine({ roomId, userId: this.options.userId, text: command.text }, this.options.userId),
        );
        return true;
      }
      case 'private': {
        const clientMsgId = randomUUID();
        const ack = await this.request('dm:send', { to: command.to, text: command.text, clientMsgId });
        this.seenUsers.add(command.to);
        this.sentDms.set(ack.id, command.to);
        this.printOnce(ack.id, () =>
          dmLine({ from: this.options.userId, to: command.to, text: command.text }, this.options.userId),
        );
        return true;
      }
      case 'rooms': {
        const ack = await this.request('rooms:list', {});
        for (const r of ack.rooms) this.seenRooms.add(r.roomId);
        print(roomsLine(ack.rooms));
        return true;
      }
      case 'items': {
        const items = await this.options.api.openItems();
        this.itemNumbers.remember(items.map((item) => item.id));
        for (const item of items) this.knownItems.add(item.id);
        for (const line of itemsLines(items as unknown as Loose[], this.options.userId)) print(line);
        return true;
      }
      case 'who': {
        const roomId = command.roomId ?? this.currentRoom;
        if (!roomId) throw new CommandError('no current room: /who ROOM');
        const ack = await this.request('presence:get', { roomId });
        for (const u of ack.users) this.seenUsers.add(u);
        print(whoLine(roomId, ack.users));
        return true;
      }
      case 'watch': {
        const itemId = this.itemNumbers.resolve(command.itemId);
        const item = await this.options.api.item(itemId).catch(() => undefined);
        if (item) this.knownItems.add(itemId);
        const lastSeq = this.watched.get(itemId) ?? item?.highestBid?.seq ?? 0;
        await this.request('item:watch', { itemId, afterSeq: lastSeq });
        this.watched.set(itemId, lastSeq);
        print(item ? itemLine(item as unknown as Loose) : `[item ${itemId}] no bids yet`);
        print(`* watching ${itemId}`);
        return true;
      }
      case 'unwatch': {
        const itemId = this.itemNumbers.resolve(command.itemId);
        await this.request('item:unwatch', { itemId });
        this.watched.delete(itemId);
        print(`* stopped watching ${itemId}`);
        return true;
      }
      case 'bid': {
        const itemId = this.itemNumbers.resolve(command.itemId);
        if (!(await this.mayBidOn(itemId, command.amount))) return true;
        const bid = await placeBidWithRetry(this.options.api, itemId, command.amount, {
          onChecking: (failures, waitMs) =>
            print(
              `* no answer on whether the bid counted (outcome unknown): checking again in ` +
                `${Math.round(waitMs / 1000)} s with the same Idempotency-Key (try ${failures + 1} of ${BID_TRIES})…`,
            ),
        });
        this.knownItems.add(itemId);
        print(acceptedBidLine({ ...bid, itemId } as unknown as Loose));
        return true;
      }
    }
  }

  /**
   * A bid on an item the api does not know would open a new auction (where the api opens items
   * on a first bid): a typo must not do that silently, so the user is asked first.
   */
  private async mayBidOn(itemId: string, amount: string): Promise<boolean> {
    if (this.knownItems.has(itemId)) return true;
    if (await this.options.api.item(itemId)) {
      this.knownItems.add(itemId);
      return true;
    }
    const confirm = this.options.confirm ?? (() => Promise.resolve(false));
    const yes = await confirm(
      `no auction "${itemId}" exists. Open a new one with your bid of ${amount} as its first? [y/N]`,
    );
    if (!yes) this.options.print(`* no bid placed (type /items for the open auctions)`);
    return yes;
  }

  private noteCursor(roomId: string, cursor: unknown): void {
    if (typeof cursor !== 'number' || !this.rooms.has(roomId)) return;
    if (cursor > (this.chatCursors.get(roomId) ?? -1)) this.chatCursors.set(roomId, cursor);
  }

  private printOnce(id: unknown, line: () => string): void {
    if (typeof id === 'string') {
      if (this.printed.has(id)) return;
      this.printed.add(id);
    }
    this.options.print(line());
  }

  private get ackTimeoutMs(): number {
    return this.options.ackTimeoutMs ?? 10_000;
  }

  private async whenReady(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new CommandError('not connected to the broadcast service (reconnecting…), try again shortly'),
          ),
        this.ackTimeoutMs,
      );
    });
    try {
      await Promise.race([this.ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async request<K extends CommandName>(
    event: K,
    payload: CommandInput<K>,
    options: { resuming?: boolean } = {},
  ): Promise<CommandResult<K>> {
    if (!options.resuming) await this.whenReady();
    let ack: AckOf<K> | undefined;
    try {
      const timed = this.socket.timeout(this.ackTimeoutMs);
      // The typed maps give emitWithAck one signature per event; a generic K needs this view of it.
      const emitWithAck = timed.emitWithAck.bind(timed) as (ev: K, p: CommandInput<K>) => Promise<AckOf<K>>;
      ack = await emitWithAck(event, payload);
    } catch {
      throw new CommandError(
        `no answer from the server to ${event} (${this.socket.connected ? 'timeout' : 'not connected'})`,
      );
    }
    if (!ack || ack.ok !== true) throw new CommandError(`server refused ${event}: ${errorText(ack ?? {})}`);
    return ack;
  }

  private async showHistory(roomId: string): Promise<void> {
    const limit = this.options.historyLimit ?? 10;
    if (limit <= 0) return;
    // History is a convenience: the room works without it (e.g. when archival is not running).
    const history = await this.options.api.roomHistory(roomId, limit).catch(() => []);
    for (const message of [...history].reverse()) {
      this.printOnce(message.id, () =>
        chatLine({ ...message, roomId } as unknown as Loose, this.options.userId, { earlier: true }),
      );
    }
  }

  private listen(): void {
    const { print, printError, userId } = this.options;
    const s = this.socket;
    s.on('connect', () => {
      if (!this.everConnected) {
        this.everConnected = true;
        print(`* connected to ${this.options.broadcastUrl} as ${userId}`);
        return;
      }
      print('* reconnected');
      // Any replica serves the resume: rooms from the last chat cursor, items from the last seq;
      // DMs missed meanwhile arrive by themselves (the server keeps this device's position).
      void this.resume().finally(() => this.markReady());
    });
    s.on('disconnect', (reason) => {
      if (reason === 'io client disconnect' || this.endedWith) return;
      print(`* disconnected (${reason}), reconnecting…`);
      this.outageReported = false;
      this.ready = new Promise((resolve) => (this.markReady = resolve));
    });
    s.on('connect_error', (err) => {
      // The token ended while the connection was down: no retry gets in with it.
      if (this.everConnected && err.message === 'unauthorized') return this.end('refused');
      // Once per outage: the client keeps retrying with backoff.
      if (!this.everConnected || this.outageReported) return;
      this.outageReported = true;
      printError(`error: cannot reconnect yet (${err.message}), still trying…`);
    });
    // The token ran out before a fresh one came: the server disconnects and takes it back no more.
    s.on('session:expired', () => this.end('expired'));
    s.on('server:draining', (payload) => {
      const wait = typeof payload?.reconnectInMs === 'number' ? payload.reconnectInMs : 0;
      print(`* server is draining: moving to another server in ${wait} ms`);
      // Closing the transport (not the socket) makes the client reconnect, to a ready server.
      setTimeout(() => s.io.engine?.close(), wait).unref();
    });
    s.on('chat', (m) => {
      const roomId = m.roomId;
      this.seenUsers.add(m.userId);
      this.noteCursor(roomId, m.cursor);
      const earlier = this.catchingUp.has(roomId);
      this.printOnce(m.id, () => chatLine(m, userId, { earlier }));
    });
    s.on('dm', (m) => {
      this.noteDmCursor(m.cursor);
      this.seenUsers.add(m.from).add(m.to);
      this.printOnce(m.id, () => dmLine(m, userId));
    });
    s.on('dm:delivered', (r) => {
      this.noteDmCursor(r.cursor);
      const to = this.sentDms.get(r.id);
      if (to) print(`[dm] delivered to ${to}`);
    });
    s.on('dm:read', (r) => {
      this.noteDmCursor(r.cursor);
      const to = this.sentDms.get(r.id);
      if (to) print(`[dm] read by ${to}`);
    });
    s.on('presence', (p) => {
      this.seenUsers.add(p.userId);
      // Our own joins and leaves are already confirmed by "* joined" and "* left".
      if (p.userId !== userId) print(presenceLine(p, userId));
    });
    s.on('bid', (bid) => {
      const itemId = bid.itemId;
      const seq = bid.seq;
      const last = this.watched.get(itemId);
      if (last !== undefined && seq <= last) return;
      if (last !== undefined) this.watched.set(itemId, seq);
      print(bidLine(bid));
    });
    // Taken out of a private room by a member: forget it, so that no resume tries it again.
    s.on('room:removed', ({ roomId }) => {
      if (!this.rooms.delete(roomId)) return;
      this.chatCursors.delete(roomId);
      if (this.currentRoom === roomId) this.currentRoom = [...this.rooms].at(-1);
      print(
        `* you were removed from ${roomId}${this.currentRoom ? ` (current room: ${this.currentRoom})` : ''}`,
      );
    });
    s.on('item:extended', (e) => print(extendedLine(e)));
    s.on('item:closed', (e) => print(closedLine(e)));
  }

  /**
   * After a reconnect: join the rooms again from the last chat cursor seen, so the server sends
   * the messages missed meanwhile (printed as earlier ones) before the ack, and replay the bids
   * missed meanwhile. A room without a cursor (or a replay cut short) falls back to the history;
   * lines are keyed by id, so nothing prints twice.
   */
  private async resume(): Promise<void> {
    for (const roomId of this.rooms) {
      const afterCursor = this.chatCursors.get(roomId);
      this.catchingUp.add(roomId);
      const ack = await this.request(
        'room:join',
        afterCursor === undefined ? { roomId } : { roomId, afterCursor },
        { resuming: true },
      )
        .catch((err: Error) => {
          this.options.printError(`error: rejoining ${roomId}: ${err.message}`);
          return undefined;
        })
        .finally(() => this.catchingUp.delete(roomId));
      this.noteCursor(roomId, ack?.cursor);
      if (afterCursor === undefined || ack?.truncated === true) await this.showHistory(roomId);
    }
    for (const [itemId, afterSeq] of this.watched) {
      await this.request('item:watch', { itemId, afterSeq }, { resuming: true }).catch((err: Error) =>
        this.options.printError(`error: watching ${itemId} again: ${err.message}`),
      );
    }
  }
}
