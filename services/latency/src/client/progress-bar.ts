import { SingleBar } from 'cli-progress';
import type { Histogram } from './latency-histogram.js';

export interface LiveProgress {
  update(values: {
    phase: string;
    done: number;
    sent: number;
    received: number;
    errors: number;
    histogram: Histogram;
  }): void;
  stop(): void;
}

/** A live bar on stderr (stdout stays clean for --json); a no-op when `enabled` is false. */
export function createProgressBar(enabled: boolean, label: string, total: number): LiveProgress {
  if (!enabled) return { update() {}, stop() {} };
  const bar = new SingleBar({
    stream: process.stderr,
    format: `${label} [{bar}] {percentage}% {phase} | sent {sent} recv {received} err {errors} | p50 {p50} p99 {p99} ms`,
    barsize: 24,
    hideCursor: true,
    clearOnComplete: false,
  });
  const ms = (h: Histogram, p: number) =>
    h.totalCount ? (h.getValueAtPercentile(p) / 1000).toFixed(3) : '-';
  bar.start(total, 0, { phase: 'connecting', sent: 0, received: 0, errors: 0, p50: '-', p99: '-' });
  return {
    update(v) {
      bar.update(Math.min(total, v.done), {
        phase: v.phase,
        sent: v.sent,
        received: v.received,
        errors: v.errors,
        p50: ms(v.histogram, 50),
        p99: ms(v.histogram, 99),
      });
    },
    stop() {
      bar.stop();
    },
  };
}
