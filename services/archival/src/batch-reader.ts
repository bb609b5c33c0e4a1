import type { Consumer, ConsumerMessages, JsMsg } from 'nats';

/** How long one wait for the next message lasts before the abort signal is looked at again. */
const IDLE_POLL_MS = 500;

/**
 * Turns a JetStream pull consumer into batches: up to `batchSize` messages, handed over as soon
 * as the batch is full or `maxWaitMs` after its first message, whichever comes first.
 * consume() keeps `prefetchBatches` batches prefetched while earlier ones are written.
 *
 * Messages arrive through consume()'s callback into one buffer, so a message costs a push and
 * nothing else: no promise, timer or race per message, one timer per batch (the server's
 * max_ack_pending bounds the buffer).
 */
export class BatchReader {
  private messages: ConsumerMessages | undefined;
  private buffer: JsMsg[] = [];
  /** When the oldest buffered message was first in hand (Date.now()). */
  private firstAt: number | undefined;
  private closed = false;
  private wake: { atLeast: number; resolve: () => void } | undefined;

  private constructor(
    private readonly batchSize: number,
    private readonly maxWaitMs: number,
  ) {}

  static async open(
    consumer: Consumer,
    options: {
      batchSize: number;
      maxWaitMs: number;
      /** @default 1 */
      prefetchBatches?: number;
    },
  ): Promise<BatchReader> {
    const reader = new BatchReader(options.batchSize, options.maxWaitMs);
    reader.messages = await consumer.consume({
      max_messages: options.batchSize * (options.prefetchBatches ?? 1),
      expires: 5000,
      callback: (msg) => reader.received(msg),
    });
    void reader.messages.closed().then(() => {
      reader.closed = true;
      reader.notify(0);
    });
    return reader;
  }

  /** Messages received and not handed over yet. */
  get buffered(): number {
    return this.buffer.length;
  }

  private received(msg: JsMsg): void {
    if (this.buffer.push(msg) === 1) this.firstAt = Date.now();
    this.notify(this.buffer.length);
  }

  private notify(buffered: number): void {
    const wake = this.wake;
    if (wake && (buffered >= wake.atLeast || this.closed)) {
      this.wake = undefined;
      wake.resolve();
    }
  }

  /** Resolves once `atLeast` messages are buffered, after `ms`, or on abort. */
  private async waitFor(atLeast: number, ms: number, signal: AbortSignal): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await new Promise<void>((resolve) => {
        this.wake = { atLeast, resolve };
        timer = setTimeout(resolve, ms);
        onAbort = resolve;
        signal.addEventListener('abort', onAbort, { once: true });
      });
    } finally {
      this.wake = undefined;
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  private take(): JsMsg[] {
    const batch = this.buffer.length <= this.batchSize ? this.buffer : this.buffer.slice(0, this.batchSize);
    this.buffer = batch === this.buffer ? [] : this.buffer.slice(this.batchSize);
    // The rest has waited at least since now: its deadline starts here.
    this.firstAt = this.buffer.length > 0 ? Date.now() : undefined;
    return batch;
  }

  /** The next batch; empty when `signal` aborted (or the consumer went away) before a message came. */
  async next(signal: AbortSignal): Promise<JsMsg[]> {
    while (!signal.aborted) {
      if (this.buffer.length >= this.batchSize) return this.take();
      if (this.buffer.length > 0) {
        const left = (this.firstAt ?? 0) + this.maxWaitMs - Date.now();
        if (left <= 0 || this.closed) return this.take();
        await this.waitFor(this.batchSize, left, signal);
      } else if (this.closed) {
        await sleep(IDLE_POLL_MS, signal);
        return [];
      } else {
        await this.waitFor(1, IDLE_POLL_MS, signal);
      }
    }
    return [];
  }

  /**
   * Stops pulling and hands every message already prefetched but not processed back to the
   * server at once, so that another replica (or the next start) gets them without waiting for
   * the ack timeout.
   */
  async close(): Promise<number> {
    this.closed = true;
    this.messages?.stop();
    const returned = this.buffer;
    this.buffer = [];
    for (const msg of returned) msg.nak();
    return returned.length;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      onAbort = resolve;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
