import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadSpec, LoadResult } from '../client/load-run.js';
import { fromWire, loadResultWireSchema } from '../client/load-result-wire.js';
import { TargetError } from '../client/probe-transport.js';

export interface RemoteRunOptions {
  readonly signal?: AbortSignal;
  /** @default 1000 */
  readonly pollIntervalMs?: number;
}

async function call(
  agentUrl: string,
  path: string,
  init?: RequestInit,
): Promise<{ status: number; body: unknown }> {
  let response: Response;
  try {
    response = await fetch(new URL(path, agentUrl), init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new TargetError(
      `cannot reach the agent at ${agentUrl}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
    );
  }
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: keep the text for the error message.
  }
  return { status: response.status, body };
}

const errorOf = (body: unknown) =>
  body && typeof body === 'object' && 'error' in body
    ? String((body as { error: unknown }).error)
    : JSON.stringify(body);

/**
 * Runs `spec` against the agent's path `label` and waits for the result: the agent starts the
 * run (202) and the client polls it, since a run can outlast any HTTP timeout on the way.
 */
export async function runViaAgent(
  agentUrl: string,
  label: string,
  spec: LoadSpec,
  options: RemoteRunOptions = {},
): Promise<LoadResult> {
  const started = await call(agentUrl, '/runs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ label, load: spec }),
  });
  if (started.status !== 202) {
    throw new TargetError(
      `the agent at ${agentUrl} refused ${label} (${started.status}): ${errorOf(started.body)}`,
    );
  }
  const { id } = started.body as { id: string };
  // The run's own length, its drain, and a generous margin for a loaded agent.
  const deadline =
    Date.now() +
    (spec.warmupS + spec.durationS) * 1000 +
    (spec.drainTimeoutMs ?? 5000) +
    (spec.connectTimeoutMs ?? 5000) +
    60_000;
  for (;;) {
    await sleep(options.pollIntervalMs ?? 1000);
    const polled = await call(agentUrl, `/runs/${id}`);
    if (polled.status !== 200) {
      throw new TargetError(
        `the agent at ${agentUrl} lost run ${id} of ${label} (${polled.status}): ${errorOf(polled.body)}`,
      );
    }
    const run = polled.body as { state: string; result?: unknown; error?: string };
    if (run.state === 'done') return fromWire(loadResultWireSchema.parse(run.result));
    if (run.state === 'failed') throw new TargetError(`the agent could not measure ${label}: ${run.error}`);
    if (options.signal?.aborted) throw new TargetError(`stopped while the agent measured ${label}`);
    if (Date.now() > deadline) throw new TargetError(`the agent's run of ${label} did not finish in time`);
  }
}
