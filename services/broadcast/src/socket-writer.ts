import type { WebSocket } from 'ws';

/**
 * The last step of fan-out: the bytes of each event are built once (connection.ts) and written to
 * every receiver's socket as they are, and everything sent to one connection in the same burst
 * (the bids of one read from NATS, a replay) goes out in one write. The per-socket cost is then one
 * `write` of a shared buffer — no per-socket encoding, framing or engine.io packet handling.
 */

/** The ws library's sender, as engine.io itself uses it to write pre-framed messages. */
interface FrameSender {
  /** 0 when nothing is queued inside the sender (no compression or Blob read in progress). */
  readonly _state?: number;
  readonly _queue?: readonly unknown[];
  sendFrame(list: readonly Buffer[], cb?: (err?: Error) => void): void;
}

/**
 * Writes `bytes` (whole WebSocket frames) on `ws` directly, when that keeps the order of
 * everything sent before: the socket is open and ws's sender holds nothing back. False otherwise.
 */
export function writeFrames(ws: WebSocket, bytes: Buffer): boolean {
  const sender = (ws as unknown as { _sender?: FrameSender })._sender;
  if (ws.readyState !== ws.OPEN || !sender || typeof sender.sendFrame !== 'function') return false;
  if ((sender._state ?? 0) !== 0 || (sender._queue?.length ?? 0) > 0) return false;
  sender.sendFrame([bytes]);
  return true;
}

/** engine.io's socket, with the members that tell whether a direct write keeps the order. */
interface EngineState {
  readonly readyState: string;
  readonly upgrading: boolean;
  readonly writeBuffer: readonly unknown[];
  readonly transport: {
    readonly name: string;
    readonly perMessageDeflate?: unknown;
    readonly socket?: WebSocket;
  };
}

/**
 * The WebSocket under an engine.io connection, when a frame written on it directly lands after
 * everything engine.io was given before: open, on the websocket transport, not upgrading, nothing
 * left in engine.io's own write buffer, no compression. Undefined otherwise (polling clients, a
 * transport change or a backed-up buffer): then the packet goes through engine.io.
 */
export function directWebSocket(engine: object): WebSocket | undefined {
  const state = engine as unknown as EngineState;
  if (state.readyState !== 'open' || state.upgrading || state.writeBuffer.length > 0) return undefined;
  const transport = state.transport;
  if (transport.name !== 'websocket' || transport.perMessageDeflate) return undefined;
  return transport.socket;
}

/** One connection's queue of items sent in the current burst. */
export abstract class BurstWriter<T> {
  private queued: T[] | undefined;

  /** Queues `item`; the queue is written at the end of the current burst (or by flush()). */
  enqueue(item: T): void {
    if (this.queued) {
      this.queued.push(item);
      return;
    }
    this.queued = [item];
    markDirty(this as unknown as BurstWriter<unknown>);
  }

  /** Writes what is queued now; the gateways call it before anything they send around the queue. */
  flush(): void {
    const items = this.queued;
    if (!items) return;
    this.queued = undefined;
    this.write(items);
  }

  /** Writes the items, in order. */
  protected abstract write(items: readonly T[]): void;
}

let dirty: Array<BurstWriter<unknown>> = [];

/**
 * A burst ends when the code that sent it returns: a microtask runs after one NATS read has been
 * parsed and every event of it delivered, and before any timer or I/O, so nothing else is held up.
 */
function markDirty(writer: BurstWriter<unknown>): void {
  if (dirty.length === 0) queueMicrotask(flushAll);
  dirty.push(writer);
}

function flushAll(): void {
  const writers = dirty;
  dirty = [];
  for (const w of writers) w.flush();
}

/** The bytes of several frames as one buffer (a single frame is not copied). */
export function joined(frames: readonly Buffer[]): Buffer {
  return frames.length === 1 ? frames[0]! : Buffer.concat(frames);
}
