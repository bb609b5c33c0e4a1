/** What every experiment of the harness takes and gives back. */

/** A deployed stack to measure instead of the local processes (`--target`). */
export interface Target {
  /** Base URL of the api (bids). */
  readonly api: string;
  /** Base URL of broadcast (Socket.IO at /socket.io, plain WebSocket at /ws). */
  readonly broadcast: string;
  /** The latency lab's echo endpoint (ws://…/echo). */
  readonly echo: string;
  /** HS256 secret of the stack's tokens (jwt mode), to sign bidders' tokens here. */
  readonly authSecret: string | undefined;
}

export interface ExperimentContext {
  readonly quick: boolean;
  readonly target: Target | undefined;
  /** Where reports go (docs/results for a full run). */
  readonly outDir: string;
  /** Where the experiments' own output goes (one log file each). */
  readonly logDir: string;
  /** Progress of the running experiment: `done` of `total` steps. */
  progress(done: number, total: number, label: string): void;
}

/** One headline figure beside its baseline in the same run. */
export interface Headline {
  readonly what: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline: string;
  readonly baselineValue: number;
  /** value / baselineValue (NaN when there is no baseline in this mode). */
  readonly ratio: number;
  /** The target, in words (`≤ 1.0× raw ws`), and whether it was met. */
  readonly target?: string;
  readonly met?: boolean;
}

export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<ReadonlyArray<string | number>>;
}

export interface Plot {
  /** File name under the results folder (…svg). */
  readonly file: string;
  readonly title: string;
  readonly svg: string;
}

export interface ExperimentResult {
  readonly name: string;
  readonly title: string;
  readonly status: 'ok' | 'skipped' | 'failed';
  /** Why it was skipped or how it failed. */
  readonly reason?: string;
  readonly seconds: number;
  readonly headlines: readonly Headline[];
  readonly tables: readonly Table[];
  readonly plots: readonly Plot[];
  /** The experiment's own detailed report (a file in the results folder), if it writes one. */
  readonly details?: string;
  /** Its raw figures, kept in bench.json. */
  readonly raw?: unknown;
}

export interface Experiment {
  readonly name: string;
  readonly title: string;
  /** Why it cannot run against a deployed stack; undefined when it can. */
  readonly localOnly?: string;
  run(ctx: ExperimentContext): Promise<Omit<ExperimentResult, 'name' | 'title' | 'status' | 'seconds'>>;
}
