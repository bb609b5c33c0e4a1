import { spawnService, freePort, type ServiceProcess } from '@gavel/shared/testing';
import { testEnv, type TestNames } from './helpers.js';

export const API_ENTRY = 'services/api/src/main.ts';

/** Runs the api as its own process (for kill -9 and multi-replica tests). */
export async function spawnApi(names: TestNames, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const port = await freePort();
  return spawnService(API_ENTRY, testEnv(names, { LOG_LEVEL: 'warn', ...env, PORT: String(port) }), {
    port,
    // A busy machine (load average above 10 on 2 cores) has taken more than 40 s to start one.
    timeoutMs: 120_000,
  });
}

/** Reads one sample of a counter from /metrics. */
export async function metric(url: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
}
