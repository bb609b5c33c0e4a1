import { randomUUID } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import type { ApiClient } from './api-client.js';
import type { Command } from './command-parser.js';
import { helpText } from './command-parser.js';
import {
  acceptedBidLine,
  bidLine,
  chatLine,
  closedLine,
  dmLine,
  extendedLine,
  itemLine,
  presenceLine,
  roomsLine,
  whoLine,
} from './output-format.js';

type Loose = Record<string, unknown>;

export interface ChatSessionOptions {
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
}

/** A user-facing failure: printed as one line, the session goes on. */
export class CommandError extends Error {}

/** A refused ack is `{ok: false, error: code, message}`: the message reads best. */
function errorText(ack: Loose): string {
  if (typeof ack.message === 'string' && ack.message) return ack.message;
  const error = ack.error;
  if (typeof error === 'string') return error.replaceAll('_', ' ');
  if (error && typeof error === 'object') {
    const e = error as Loose;
    if (typeof e.message === 'string') return e.message;
    if (typeof e.code === 'string') return e.code;
  }
  return 'no reason given';
}

/** Acks look like `{ok: true, <name>: [...]}`; the first array in them is the answer. */
function firstArray(ack: Loose): unknown[] {
  for (const value of Object.values(ack)) if (Array.isArray(value)) return value;
  return [];
}

/**
 * One signed-in user's connection to the broadcast service: runs parsed commands and prints what
 * the server sends. Rooms and watched items are remembered so that a reconnect (to the same or
 * another replica) resumes them, asking for the bids after the last one seen.
 */
export class ChatSession {
  private readonly socket: Socket;
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
  private everConnected = false;
  /** Settled while connected and resumed; user commands wait for it so none races a rejoin. */
  private ready: Promise<void> = Promise.resolve();
  private markReady: () => void = () => undefined;
  private outageReported = false;

  constructor(private readonly options: ChatSessionOptions) {
    this.socket = io(options.broadcastUrl, {
      auth: { token: options.token },
      autoConnect: false,
      reconnectionDelayMax: 5_000,
    });
    this.listen();
  }

  get room(): string | undefined {
    return this.currentRoom;
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
        this.printOnce(ack.id, () =>
          dmLine({ from: this.options.userId, to: command.to, text: command.text }, this.options.userId),
        );
        return true;
      }
      case 'rooms': {
        const ack = await this.request('rooms:list', {});
        print(roomsLine(firstArray(ack) as Loose[]));
        return true;
      }
      case 'who': {
        const roomId = command.roomId ?? this.currentRoom;
        if (!roomId) throw new CommandError('no current room: /who ROOM');
        const ack = await this.request('presence:get', { roomId });
        print(whoLine(roomId, firstArray(ack)));
        return true;
      }
      case 'watch': {
        const item = await this.options.api.item(command.itemId).catch(() => undefined);
        const lastSeq = this.watched.get(command.itemId) ?? item?.highestBid?.seq ?? 0;
        await this.request('item:watch', { itemId: command.itemId, afterSeq: lastSeq });
        this.watched.set(command.itemId, lastSeq);
        print(item ? itemLine(item as unknown as Loose) : `[item ${command.itemId}] no bids yet`);
        print(`* watching ${command.itemId}`);
        return true;
      }
      case 'unwatch': {
        await this.request('item:unwatch', { itemId: command.itemId });
        this.watched.delete(command.itemId);
        print(`* stopped watching ${command.itemId}`);
        return true;
      }
      case 'bid': {
        const bid = await this.options.api.bid(command.itemId, command.amount);
        print(acceptedBidLine({ ...bid, itemId: command.itemId } as unknown as Loose));
        return true;
      }
    }
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

  private async request(event: string, payload: Loose, options: { resuming?: boolean } = {}): Promise<Loose> {
    if (!options.resuming) await this.whenReady();
    let ack: unknown;
    try {
      ack = await this.socket.timeout(this.ackTimeoutMs).emitWithAck(event, payload);
    } catch {
      throw new CommandError(
        `no answer from the server to ${event} (${this.socket.connected ? 'timeout' : 'not connected'})`,
      );
    }
    const answer = (ack && typeof ack === 'object' ? ack : {}) as Loose;
    if (answer.ok !== true) throw new CommandError(`server refused ${event}: ${errorText(answer)}`);
    return answer;
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
      print(`* reconnected${s.recovered ? ' (session recovered)' : ''}`);
      // Even a recovered session asks again: bids come from each replica's own feed, not from the
      // recovered packet buffer, and watching from the last seq seen is idempotent.
      void this.resume(s.recovered).finally(() => this.markReady());
    });
    s.on('disconnect', (reason) => {
      if (reason === 'io client disconnect') return;
      print(`* disconnected (${reason}), reconnecting…`);
      this.outageReported = false;
      this.ready = new Promise((resolve) => (this.markReady = resolve));
    });
    s.on('connect_error', (err) => {
      // Once per outage: the client keeps retrying with backoff.
      if (!this.everConnected || this.outageReported) return;
      this.outageReported = true;
      printError(`error: cannot reconnect yet (${err.message}), still trying…`);
    });
    s.on('server:draining', (payload: Loose) => {
      const wait = typeof payload?.reconnectInMs === 'number' ? payload.reconnectInMs : 0;
      print(`* server is draining: moving to another server in ${wait} ms`);
      // Closing the transport (not the socket) keeps the session recoverable on the next server.
      setTimeout(() => s.io.engine?.close(), wait).unref();
    });
    s.on('chat', (m: Loose) => {
      const roomId = String(m.roomId);
      this.noteCursor(roomId, m.cursor);
      const earlier = this.catchingUp.has(roomId);
      this.printOnce(m.id, () => chatLine(m, userId, { earlier }));
    });
    s.on('dm', (m: Loose) => this.printOnce(m.id, () => dmLine(m, userId)));
    s.on('presence', (p: Loose) => {
      // Our own joins and leaves are already confirmed by "* joined" and "* left".
      if (p.userId !== userId) print(presenceLine(p, userId));
    });
    s.on('bid', (bid: Loose) => {
      const itemId = String(bid.itemId);
      const seq = Number(bid.seq);
      const last = this.watched.get(itemId);
      if (last !== undefined && seq <= last) return;
      if (last !== undefined) this.watched.set(itemId, seq);
      print(bidLine(bid));
    });
    s.on('item:extended', (e: Loose) => print(extendedLine(e)));
    s.on('item:closed', (e: Loose) => print(closedLine(e)));
  }

  /**
   * After a reconnect: join the rooms again from the last chat cursor seen, so the server sends
   * the messages missed meanwhile (printed as earlier ones) before the ack, and replay the bids
   * missed meanwhile. A room without a cursor (or a replay cut short) falls back to the history;
   * lines are keyed by id, so nothing prints twice.
   */
  private async resume(recovered: boolean): Promise<void> {
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
      if (afterCursor === undefined ? !recovered : ack?.truncated === true) await this.showHistory(roomId);
    }
    for (const [itemId, afterSeq] of this.watched) {
      await this.request('item:watch', { itemId, afterSeq }, { resuming: true }).catch((err: Error) =>
        this.options.printError(`error: watching ${itemId} again: ${err.message}`),
      );
    }
  }
}
