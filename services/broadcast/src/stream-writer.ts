import {
  encodeEvent,
  startPublish,
  subjectOf,
  type GavelEvent,
  type JetStreamPublisher,
  type Topology,
} from '@gavel/shared';
import type { StreamReader } from './stream-reader.js';

/** An event as the stream holds it after a publish: the first copy when it was a duplicate. */
export interface Stored<E extends GavelEvent = GavelEvent> {
  readonly event: E | GavelEvent;
  readonly seq: number;
  readonly duplicate: boolean;
}

/**
 * Publishes events and waits for JetStream's ack, so that an event is durable (and archived)
 * before anyone sees it. The event id is the Nats-Msg-Id: a retried publish is stored once.
 */
export class StreamWriter {
  constructor(
    private readonly js: JetStreamPublisher,
    private readonly topology: Topology,
    private readonly reader: StreamReader,
  ) {}

  async publish<E extends GavelEvent>(event: E): Promise<Stored<E>> {
    const subject = subjectOf(event, this.topology);
    // A client's event starts its trace here (a WebSocket frame carries no trace context).
    const traced = startPublish(event.type, subject, { 'gavel.event.id': event.id });
    let ack;
    try {
      ack = await this.js.publish(subject, encodeEvent(event), {
        msgID: event.id,
        expectStream: this.topology.stream,
        ...(traced.headers ? { headers: traced.headers } : {}),
      });
      traced.end(undefined, { 'gavel.duplicate': ack.duplicate });
    } catch (err) {
      traced.end(err);
      throw err;
    }
    if (!ack.duplicate) return { event, seq: ack.seq, duplicate: false };
    // A duplicate's ack carries the first copy's sequence: answer with that copy, as stored.
    const first = await this.reader.at(ack.seq);
    return { event: first ?? event, seq: ack.seq, duplicate: true };
  }
}
