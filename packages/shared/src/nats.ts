import {
  connect,
  RetentionPolicy,
  StorageType,
  DiscardPolicy,
  type ConnectionOptions,
  type NatsConnection,
  type JetStreamManager,
  type StreamConfig,
} from 'nats';
import { subjects, type Topology } from './events.js';

/**
 * Connects with unlimited reconnects: a NATS restart must never kill a service. `extra` adds
 * client options (e.g. `noAsyncTraces` on a hot publishing path).
 */
export async function connectNats(
  url: string,
  name: string,
  extra: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  return connect({
    servers: url,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    timeout: 2000,
    ...extra,
  });
}

const DAY_NS = 24 * 3600 * 1e9;

/**
 * Creates or updates the event stream and its dead-letter stream. Idempotent: every service may
 * call it at start.
 */
export async function ensureStreams(jsm: JetStreamManager, topology: Topology): Promise<void> {
  const s = subjects(topology);
  const wanted: Array<Partial<StreamConfig> & { name: string; subjects: string[] }> = [
    {
      name: topology.stream,
      subjects: [s.all],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      // Replays (item:watch afterSeq) and archival catch-up read from here.
      max_age: 7 * DAY_NS,
      // Publishes carry Nats-Msg-Id = event id; a retried publish inside this window is dropped.
      duplicate_window: 10 * 60 * 1e9,
      num_replicas: topology.replicas ?? 1,
      // Every stored event is republished on core NATS with its stream sequence (and the previous
      // sequence of its subject) in headers: broadcast replicas subscribe per subject to these,
      // by interest, and learn the order and any gap from the headers.
      republish: { src: s.all, dest: s.allLive },
    },
    {
      name: s.deadLetterStream,
      subjects: [s.allDeadLetters],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: 30 * DAY_NS,
      num_replicas: topology.replicas ?? 1,
    },
  ];
  for (const config of wanted) {
    try {
      const info = await jsm.streams.info(config.name);
      try {
        await jsm.streams.update(config.name, { ...info.config, ...config });
      } catch (updateErr) {
        // nats-server 2.9 cannot add RePublish to a stream created without it; keep the rest of
        // the update (broadcast falls back to per-subject consumers, see liveRepublishOf).
        if (!/republish/i.test(String(updateErr))) throw updateErr;
        await jsm.streams.update(config.name, {
          ...info.config,
          ...config,
          republish: info.config.republish,
        } as StreamConfig);
      }
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
      try {
        await jsm.streams.add(config);
      } catch (addErr) {
        // Another replica created it between our info and add.
        if (!String(addErr).includes('already in use')) throw addErr;
      }
    }
  }
}

function isStreamNotFound(err: unknown): boolean {
  return err instanceof Error && /stream not found/i.test(err.message);
}

/** Whether the event stream republishes its events to the live subjects broadcast subscribes to. */
export async function liveRepublishOf(jsm: JetStreamManager, topology: Topology): Promise<boolean> {
  const s = subjects(topology);
  const info = await jsm.streams.info(topology.stream);
  const republish = info.config.republish;
  return republish?.src === s.all && republish.dest === s.allLive && republish.headers_only !== true;
}
