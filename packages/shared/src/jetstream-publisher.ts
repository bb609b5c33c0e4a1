import { createInbox, headers, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from 'nats';

/** JetStream's answer to a stored publish. */
export interface PubAck {
  readonly stream: string;
  readonly seq: number;
  /** The Nats-Msg-Id was seen within the stream's duplicate window: nothing was stored again. */
  readonly duplicate: boolean;
}

export interface PublishOptions {
  /** Nats-Msg-Id: JetStream drops a second publish of the same id. */
  readonly msgID: string;
  /** Nats-Expected-Stream: refused unless the subject belongs to this stream. */
  readonly expectStream: string;
  /** Further headers (trace context); the two above are added to them. */
  readonly headers?: MsgHdrs;
}

interface Waiting {
  readonly resolve: (ack: PubAck) => void;
  readonly reject: (err: Error) => void;
  readonly deadline: number;
}

export class PublishError extends Error {
  constructor(
    message: string,
    /** JetStream's error code (e.g. 503 when no stream took the subject), or 408 on a timeout. */
    readonly code: number,
  ) {
    super(message);
    this.name = 'PublishError';
  }
}

/**
 * JetStream publishes for a hot path: one inbox subscription for every answer, a core NATS publish
 * per event with the reply subject `<inbox>.<n>`, and one sweep for timeouts.
 *
 * `js.publish` of nats.js 2.x is a request per event: a muxed request object, a timer, a deferred,
 * and on every success an Error built (with its stack) only to reject the already-settled
 * deferred. At thousands of events a second that was about a tenth of the api's CPU (its outbox
 * relay). The answers are the same JetStream PubAcks either way; order on the wire is the order
 * of publish() calls.
 */
export class JetStreamPublisher {
  private readonly inbox: string;
  private readonly subscription: Subscription;
  private readonly waiting = new Map<string, Waiting>();
  private next = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    this.inbox = createInbox();
    this.subscription = nc.subscribe(`${this.inbox}.*`, { callback: (err, m) => this.answered(err, m) });
    // One timer for every publish in flight: a slot's deadline is looked at every quarter timeout.
    this.sweeper = setInterval(() => this.sweep(Date.now()), Math.max(50, timeoutMs / 4));
    this.sweeper.unref();
  }

  /** Publishes and resolves with JetStream's PubAck; rejects with a PublishError. */
  publish(subject: string, data: Uint8Array, options: PublishOptions): Promise<PubAck> {
    const token = String(this.next++);
    const h = options.headers ?? headers();
    h.set('Nats-Msg-Id', options.msgID);
    h.set('Nats-Expected-Stream', options.expectStream);
    return new Promise<PubAck>((resolve, reject) => {
      this.waiting.set(token, { resolve, reject, deadline: Date.now() + this.timeoutMs });
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, headers: h });
      } catch (err) {
        // A closed or draining connection refuses at once.
        this.waiting.delete(token);
        reject(new PublishError(err instanceof Error ? err.message : String(err), 503));
      }
    });
  }

  /** Publishes waiting for an answer. */
  get inFlight(): number {
    return this.waiting.size;
  }

  /** Stops listening; publishes still waiting are rejected. */
  close(): void {
    clearInterval(this.sweeper);
    this.subscription.unsubscribe();
    this.sweep(Number.POSITIVE_INFINITY);
  }

  private answered(err: Error | null, m: Msg): void {
    if (err) return; // the subscription's own error (permissions): publishes time out and are retried
    const token = m.subject.slice(this.inbox.length + 1);
    const slot = this.waiting.get(token);
    if (!slot) return; // answered after its timeout: the entry is published again later
    this.waiting.delete(token);
    // No stream listens on the subject (no responders): a status message without a body.
    if (m.headers?.hasError) {
      return slot.reject(new PublishError(m.headers.description || 'no responders', m.headers.code));
    }
    let answer: {
      stream?: unknown;
      seq?: unknown;
      duplicate?: unknown;
      error?: { code?: unknown; description?: unknown };
    };
    try {
      answer = m.json();
    } catch {
      return slot.reject(new PublishError('JetStream answered with something that is not JSON', 502));
    }
    if (answer.error) {
      const code = Number(answer.error.code) || 500;
      return slot.reject(new PublishError(String(answer.error.description ?? 'publish refused'), code));
    }
    if (typeof answer.stream !== 'string' || typeof answer.seq !== 'number') {
      return slot.reject(new PublishError('JetStream answered without a stream and sequence', 502));
    }
    slot.resolve({ stream: answer.stream, seq: answer.seq, duplicate: answer.duplicate === true });
  }

  private sweep(now: number): void {
    // Every publish has the same timeout, so the map (in publish order) is in deadline order.
    for (const [token, slot] of this.waiting) {
      if (slot.deadline > now) break;
      this.waiting.delete(token);
      slot.reject(new PublishError('no answer from JetStream in time', 408));
    }
  }
}
