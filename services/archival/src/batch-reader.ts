import type { Consumer, ConsumerMessages, JsMsg } from 'nats';

/** How long one wait for the next message lasts before the abort signal is looked at again. */
const IDLE_POLL_MS = 500;

/**
 * Turns a JetStream pull consumer into batches: up to `batchSize` messages, handed over as soon
 * as the batch is full or `maxWaitMs` after its first message, whichever comes first.
 * consume() keeps `prefetchBatches` batches prefetched while earlier ones are written.
 */
export class BatchReader {
  private pending: Promise<IteratorResult<JsMsg>> | undefined;
  private readonly iterator: AsyncIterator<JsMsg>;

  private constructor(
    private readonly messages: ConsumerMessages,
    private readonly batchSize: number,
    private readonly maxWaitMs: number,
  ) {
    this.iterator = messages[Symbol.asyncIterator]();
  }

  static async open(
    consumer: Consumer,
    options: {
      batchSize: number;
      maxWaitMs: number;
      /** @default 1 */
      prefetchBatches?: number;
    },
  ): Promise<BatchReader> {
    const messages = await consumer.consume({
      max_messages: options.batchSize * (options.prefetchBatches ?? 1),
      expires: 5000,
    });
    return new BatchReader(messages, options.batchSize, options.maxWaitMs);
  }

  /** The next batch; empty when `signal` aborted (or the consumer went away) before a message came. */
  async next(signal: AbortSignal): Promise<JsMsg[]> {
    const batch: JsMsg[] = [];
    let deadline: number | undefined;
    while (batch.length < this.batchSize && !signal.aborted) {
      const waitMs = deadline === undefined ? IDLE_POLL_MS : deadline - Date.now();
      if (waitMs <= 0) break;
      this.pending ??= this.iterator.next();
      const result = await raceTimeout(this.pending, waitMs, signal);
      if (result === undefined) {
        if (deadline !== undefined) break;
        continue;
      }
      this.pending = undefined;
      if (result.done) {
        if (batch.length === 0) await sleep(IDLE_POLL_MS, signal);
        break;
      }
      batch.push(result.value);
      deadline ??= Date.now() + this.maxWaitMs;
    }
    return batch;
  }

  /**
   * Stops pulling and hands every message already prefetched but not processed back to the
   * server at once, so that another replica (or the next start) gets them without waiting for
   * the ack timeout.
   */
  async close(): Promise<number> {
    this.messages.stop();
    let returned = 0;
    for (;;) {
      this.pending ??= this.iterator.next();
      const result = await raceTimeout(this.pending, 1000);
      this.pending = undefined;
      if (result === undefined || result.done) break;
      result.value.nak();
      returned += 1;
    }
    return returned;
  }
}

/** Resolves with the promise's value, or undefined after `ms` or on abort. */
async function raceTimeout<T>(promise: Promise<T>, ms: number, signal?: AbortSignal): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
        onAbort = () => resolve(undefined);
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  await raceTimeout(new Promise<never>(() => {}), ms, signal);
}
