import { readFileSync } from 'node:fs';
import { execSync } from 'node:child_process';

/** Kernel clock ticks per second, the unit of utime and stime in /proc/<pid>/stat. */
const CLOCK_TICKS = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;

/**
 * CPU time (user + system) a process has used so far, in microseconds, from /proc (Linux).
 * NaN once the process is gone.
 */
export function cpuMicros(pid: number): number {
  try {
    // The command name may hold spaces; the fields after it are fixed.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** Busy and total time of all the machine's CPUs so far, in clock ticks, from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number);
  const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  return { busy, total: busy + (idle ?? 0) + (iowait ?? 0) };
}

/** Fraction of the machine's CPU capacity (all cores) that was busy between two readings. */
export function busyShare(
  from: ReturnType<typeof machineTicks>,
  to: ReturnType<typeof machineTicks>,
): number {
  return (to.busy - from.busy) / Math.max(1, to.total - from.total);
}

export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}
