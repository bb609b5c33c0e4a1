import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadReply, LoadRequest, PhaseReport } from './load-publisher.js';

export type { LoadPhase, PhaseReport } from './load-publisher.js';

const PUBLISHER = fileURLToPath(new URL('./load-publisher.ts', import.meta.url));

/**
 * Runs one load request in a fresh load-publisher process and resolves with its phases;
 * `onPhase` hears of each phase as soon as it ended.
 */
export function runLoad(
  request: LoadRequest,
  onPhase?: (index: number, report: PhaseReport) => void,
): Promise<{ published: number; phases: PhaseReport[] }> {
  return new Promise((resolve, reject) => {
    const child = fork(PUBLISHER, [], {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const phases: PhaseReport[] = [];
    let settled = false;
    child.on('message', (reply: LoadReply) => {
      if (reply.type === 'phase') {
        phases[reply.index] = reply.report;
        onPhase?.(reply.index, reply.report);
      } else if (reply.type === 'done') {
        settled = true;
        resolve({ published: reply.published, phases });
      } else {
        settled = true;
        reject(new Error(`load process: ${reply.message}`));
      }
    });
    child.once('exit', (code) => {
      if (!settled) reject(new Error(`load process exited with ${code} before it finished`));
    });
    child.send(request);
  });
}
