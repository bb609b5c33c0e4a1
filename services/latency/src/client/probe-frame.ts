/**
 * The probe message the load client sends and the echo server returns unchanged. Every probe
 * carries its own intended send time, so a reply is timed from the frame itself, whatever order
 * replies come back in.
 *
 * Layout (little endian): intended send time (ns, float64) | actual send time (ns, float64) |
 * connection index (uint32) | sequence number on that connection (uint32) | padding.
 * Times are nanoseconds since the run's origin (process.hrtime.bigint() at start), exact in a
 * float64 for 104 days.
 */
export const PROBE_HEADER_BYTES = 24;

export interface Probe {
  readonly intendedNs: number;
  readonly sentNs: number;
  readonly connection: number;
  readonly seq: number;
}

/** Writes a probe into a fresh buffer of `payloadBytes` (padding is zeros). */
export function encodeProbe(probe: Probe, payloadBytes: number): Buffer {
  const frame = Buffer.alloc(Math.max(payloadBytes, PROBE_HEADER_BYTES));
  frame.writeDoubleLE(probe.intendedNs, 0);
  frame.writeDoubleLE(probe.sentNs, 8);
  frame.writeUInt32LE(probe.connection, 16);
  frame.writeUInt32LE(probe.seq, 20);
  return frame;
}

/** Reads a returned probe; undefined when the bytes cannot be one of ours. */
export function decodeProbe(data: Uint8Array): Probe | undefined {
  if (data.byteLength < PROBE_HEADER_BYTES) return undefined;
  const frame = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const intendedNs = frame.readDoubleLE(0);
  const sentNs = frame.readDoubleLE(8);
  if (!Number.isFinite(intendedNs) || !Number.isFinite(sentNs)) return undefined;
  return { intendedNs, sentNs, connection: frame.readUInt32LE(16), seq: frame.readUInt32LE(20) };
}

/** A clock in nanoseconds since `origin`, as a plain number (cheap to subtract and store). */
export function createClock(): () => number {
  const origin = process.hrtime.bigint();
  return () => Number(process.hrtime.bigint() - origin);
}
