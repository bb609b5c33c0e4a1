import { DeliverPolicy, type ConsumerMessages, type JetStreamClient } from 'nats';
import { decodeEvent, subjects, type GavelEvent, type Topology } from '@gavel/shared';
import type { Logger } from 'pino';
import type { BroadcastMetrics } from './metrics.js';

/**
 * This replica's own view of the event stream: an ordered (ephemeral, flow-controlled) consumer
 * from "now on". Each replica reads every event and delivers to its local clients only, so a
 * bid reaches each watcher once however many replicas run. After a NATS hiccup the ordered
 * consumer resumes after the last stream sequence it saw, so nothing is skipped.
 */
export async function startEventConsumer(options: {
  js: JetStreamClient;
  topology: Topology;
  metrics: BroadcastMetrics;
  logger: Logger;
  onEvent: (event: GavelEvent) => void;
}): Promise<{ stop(): Promise<void> }> {
  const consumer = await options.js.consumers.get(options.topology.stream, {
    filterSubjects: subjects(options.topology).all,
    deliver_policy: DeliverPolicy.New,
  });
  const messages: ConsumerMessages = await consumer.consume();
  // The consumer must exist before any feed reads the stream, or a bid could fall between.
  await consumer.info();
  const done = (async () => {
    for await (const m of messages) {
      const decoded = decodeEvent(m.data);
      if (!decoded.ok) {
        options.metrics.drops.inc({ reason: 'bad_event' });
        options.logger.warn({ subject: m.subject, reason: decoded.reason }, 'undecodable event skipped');
        continue;
      }
      options.metrics.eventsIn.inc({ source: 'nats', type: decoded.event.type });
      try {
        options.onEvent(decoded.event);
      } catch (err) {
        options.logger.error({ err }, 'event delivery failed');
      }
    }
  })();
  return {
    async stop() {
      await messages.close();
      await done.catch(() => undefined);
    },
  };
}
