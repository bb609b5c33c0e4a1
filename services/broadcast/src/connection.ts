import type { ServerEventName, ServerEventPayload } from '@gavel/shared';
import { Encoder, PacketType } from 'socket.io-parser';
import * as wsModule from 'ws';

const socketIoEncoder = new Encoder();

/** ws's frame builder (exported as `Sender`, `WebSocket.Sender` in CommonJS; not in its type declarations). */
const { Sender } = wsModule as unknown as {
  Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] };
};

/** One WebSocket text message framed for a server-to-client write: header and payload in one buffer. */
export function wsTextFrame(text: string): Buffer {
  const [header, payload] = Sender.frame(Buffer.from(text), {
    fin: true,
    opcode: 1,
    mask: false,
    readOnly: false,
    rsv1: false,
  });
  return payload ? Buffer.concat([header!, payload]) : header!;
}

/**
 * One server event, encoded at most once per transport however many connections it goes to: the
 * `/ws` JSON text and its WebSocket frame, and the Socket.IO packet and its frame, each built on
 * first use and then written as the same bytes to every receiver.
 */
export class Frame<E extends ServerEventName = ServerEventName> {
  private wsText: string | undefined;
  private wsBytes: Buffer | undefined;
  private sioPacket: string | undefined;
  private sioBytes: Buffer | undefined;

  constructor(
    readonly event: E,
    readonly payload: ServerEventPayload<E>,
  ) {}

  /** The `/ws` text frame: the payload with a `type` field. */
  get ws(): string {
    this.wsText ??= JSON.stringify({ type: this.event, ...this.payload });
    return this.wsText;
  }

  /** The `/ws` text as a WebSocket message, ready for the socket. */
  get wsFrame(): Buffer {
    this.wsBytes ??= wsTextFrame(this.ws);
    return this.wsBytes;
  }

  /**
   * The Socket.IO EVENT packet on the main namespace (`2["bid",{…}]`), as socket.io-parser
   * encodes it: what engine.io carries as one `message`. Our payloads are JSON, so it is one string.
   */
  get socketIoPacket(): string {
    if (this.sioPacket === undefined) {
      const [packet] = socketIoEncoder.encode({
        type: PacketType.EVENT,
        nsp: '/',
        data: [this.event, this.payload],
      });
      this.sioPacket = String(packet);
    }
    return this.sioPacket;
  }

  /** The same packet as engine.io sends it over its websocket transport ("4" = message), framed. */
  get socketIoFrame(): Buffer {
    this.sioBytes ??= wsTextFrame(`4${this.socketIoPacket}`);
    return this.sioBytes;
  }
}

export type Transport = 'socketio' | 'ws';

/**
 * A client connection, whatever its transport. The gateways wrap their sockets in this shape; what
 * a connection watches or joins is recorded in one place only, the interests registry.
 */
export interface Connection {
  readonly id: string;
  readonly userId: string;
  /** Display name the client gave (`username`), if any. */
  readonly username: string | undefined;
  /** The device this connection is, for DM catch-up. */
  readonly deviceId: string;
  readonly transport: Transport;
  /**
   * Sends one server event to this client only. Events sent in the same burst (one read from
   * NATS, one replay) reach the socket together, in the order sent, with one write (socket-writer.ts).
   */
  send(frame: Frame): void;
  /** Ends the connection with a closing handshake (drain timeout). */
  close(reason: string): void;
  /** Ends it at once, without a handshake: for a client that no longer reads (slow consumer). */
  drop(reason: string): void;
  /**
   * The token expired: tells the client (`/ws` error frame `token_expired`, Socket.IO
   * `session:expired`) and closes (`/ws` code 4001, Socket.IO disconnect).
   */
  expire(): void;
  /**
   * Its user is no longer allowed in a private room it was in: tells the client (Socket.IO
   * `room:removed {roomId}`, `/ws` `{"type":"room_removed","room"}`). The caller has already taken
   * the connection out of the room.
   */
  removed(roomId: string): void;
  /** Bytes written to this client and not yet taken by its network: it is not reading if they pile up. */
  bufferedBytes(): number;
}
