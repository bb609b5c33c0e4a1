import cliProgress from 'cli-progress';

/**
 * One progress bar per experiment (cli-progress), on stderr. Away from a terminal (CI, a pipe)
 * it prints a line per experiment step instead of redrawing.
 */
export class BenchProgress {
  private readonly bars = new cliProgress.MultiBar(
    {
      format: '{name} [{bar}] {percentage}% | {value}/{total} | {label}',
      hideCursor: true,
      clearOnComplete: false,
      noTTYOutput: true,
      notTTYSchedule: 10_000,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );

  /** A bar for one experiment; `update` moves it. */
  start(name: string): {
    update(done: number, total: number, label: string): void;
    stop(status: string): void;
  } {
    const bar = this.bars.create(1, 0, { name: name.padEnd(10), label: 'starting' });
    return {
      update: (done, total, label) => {
        bar.setTotal(Math.max(total, 1));
        bar.update(done, { label: label.slice(0, 48) });
      },
      stop: (status) => {
        const total = bar.getTotal();
        bar.update(total, { label: status });
      },
    };
  }

  stop(): void {
    this.bars.stop();
  }
}
