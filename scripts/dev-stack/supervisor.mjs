// Runs the local services the way a kubelet would: each in its own process, its output prefixed
// with its name, restarted with capped exponential backoff when it exits, the others untouched.
// stop() sends SIGTERM to each once (a second stop() sends SIGKILL) and resolves when all are gone.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { styleText } from 'node:util';

/**
 * @typedef {object} ServiceSpec
 * @property {string} name
 * @property {string} command
 * @property {string[]} args
 * @property {string} cwd
 * @property {NodeJS.ProcessEnv} env
 * @property {Parameters<typeof styleText>[0]} [color]
 */

/**
 * @typedef {object} SupervisorOptions
 * @property {(line: string) => void} [write] where prefixed output lines go. @default console.log
 * @property {number} [initialBackoffMs] first restart delay. @default 1000
 * @property {number} [maxBackoffMs] longest restart delay. @default 30000
 * @property {number} [healthyAfterMs] a run this long resets the backoff. @default 60000
 */

export class Supervisor {
  /** @type {Map<string, { spec: ServiceSpec, child?: import('node:child_process').ChildProcess, closed?: Promise<void>, restarts: number, backoffMs: number, startedAt: number, timer?: NodeJS.Timeout }>} */
  #services = new Map();
  #stopping = false;
  #write;
  #initialBackoffMs;
  #maxBackoffMs;
  #healthyAfterMs;

  /** @param {SupervisorOptions} [options] */
  constructor(options = {}) {
    this.#write = options.write ?? ((line) => console.log(line));
    this.#initialBackoffMs = options.initialBackoffMs ?? 1000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.#healthyAfterMs = options.healthyAfterMs ?? 60_000;
  }

  /** @param {ServiceSpec[]} specs */
  start(specs) {
    for (const spec of specs) {
      const state = { spec, restarts: 0, backoffMs: this.#initialBackoffMs, startedAt: 0 };
      this.#services.set(spec.name, state);
      this.#run(state);
    }
  }

  /** How many times each service has been restarted. */
  restarts() {
    return Object.fromEntries([...this.#services].map(([name, s]) => [name, s.restarts]));
  }

  /**
   * Sends `signal` to one service (SIGTERM: it drains and exits, then is restarted like any exit,
   * as a Deployment's pod would be). Returns false when it is not running right now.
   */
  signal(name, signal = 'SIGTERM') {
    const child = this.#services.get(name)?.child;
    if (!child) return false;
    return child.kill(signal);
  }

  /** The pid of a service's current process (undefined between a crash and its restart). */
  pid(name) {
    return this.#services.get(name)?.child?.pid;
  }

  /**
   * First call: SIGTERM to every service (they drain) and no more restarts. A second call
   * (a second Ctrl-C): SIGKILL. Resolves when every process has exited.
   */
  async stop() {
    const signal = this.#stopping ? 'SIGKILL' : 'SIGTERM';
    this.#stopping = true;
    const running = [];
    for (const state of this.#services.values()) {
      clearTimeout(state.timer);
      if (!state.child) continue;
      state.child.kill(signal);
      running.push(state.closed);
    }
    await Promise.all(running);
  }

  #log(state, message) {
    this.#write(`${this.#prefix(state)} ${styleText('dim', message)}`);
  }

  #prefix(state) {
    return styleText(state.spec.color ?? 'white', `[${state.spec.name}]`);
  }

  #run(state) {
    const { spec } = state;
    state.startedAt = Date.now();
    // Its own process group: a Ctrl-C reaches only this supervisor, which stops each service
    // once. The IPC channel closes if the supervisor dies, and the service then stops itself
    // (handleShutdown in @gavel/shared): no orphans left holding the ports.
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    state.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => this.#write(`${this.#prefix(state)} ${line}`));
    }
    child.once('error', (err) => this.#log(state, `could not start: ${err.message}`));
    state.closed = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        resolve();
        state.child = undefined;
        if (this.#stopping) {
          this.#log(state, `stopped (${describeExit(code, signal)})`);
          return;
        }
        if (Date.now() - state.startedAt >= this.#healthyAfterMs) state.backoffMs = this.#initialBackoffMs;
        const delay = state.backoffMs;
        state.backoffMs = Math.min(state.backoffMs * 2, this.#maxBackoffMs);
        state.restarts++;
        this.#log(
          state,
          `exited (${describeExit(code, signal)}); restarting in ${formatDelay(delay)} (restart ${state.restarts})`,
        );
        state.timer = setTimeout(() => this.#run(state), delay);
      });
    });
  }
}

function describeExit(code, signal) {
  return signal ? `signal ${signal}` : `code ${code}`;
}

function formatDelay(ms) {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s`;
}
