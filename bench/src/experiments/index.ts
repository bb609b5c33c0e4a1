import type { Experiment } from '../experiment.js';
import { archival } from './archival.js';
import { contention } from './contention.js';
import { fanout } from './fanout.js';
import { latency } from './latency.js';
import { resilience } from './resilience.js';

/** Every experiment, in the order a full run takes them. */
export const experiments: readonly Experiment[] = [contention, fanout, archival, latency, resilience];
