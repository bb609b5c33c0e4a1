import { execSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second of /proc's utime and stime (100 on every common Linux). */
const TICKS_PER_S = Number(execSync('getconf CLK_TCK', { encoding: 'utf8' }).trim()) || 100;

/** CPU time (user + system, all threads) a process has used so far, in microseconds. */
export function processCpuMicros(pid: number): number {
  // The command name may hold spaces: the fields of interest follow the last ')'.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5) (utime, stime) are the 12th and 13th after the name.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks / TICKS_PER_S) * 1e6;
}

/** Time all cores have spent, in ticks, and the part of it not idle (/proc/stat's cpu line). */
export function machineCpuTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  const total = user! + nice! + system! + idle! + iowait! + irq! + softirq! + steal!;
  return { busy: total - idle! - iowait!, total };
}

/**
 * The pid of the process whose command line is `binary … <flag> <port> …` (e.g. the nats-server
 * started with `-p 4222`), or undefined: read-only, to read its CPU time.
 */
export function findServerPid(binary: string, flags: readonly string[], port: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!argv[0]?.endsWith(binary)) continue;
    const at = argv.findIndex((a, i) => flags.includes(a) && argv[i + 1] === String(port));
    if (at >= 0) return Number(entry);
  }
  return undefined;
}
