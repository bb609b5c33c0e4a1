import { PlatformOutputsError } from './platform-outputs.js';
import { WeightsError } from './weights.js';

/** Runs a CLI body: expected input errors print one clear line and exit 1, without a stack. */
export function runCommand(body: () => void): void {
  try {
    body();
  } catch (err) {
    if (err instanceof WeightsError || err instanceof PlatformOutputsError) {
      console.error(`error: ${err.message}`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}
