import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { z } from 'zod';
import { createRegistry, registerOpsRoutes, type createLogger } from '@gavel/shared';
import { loadSpecSchema } from '../client/cli-options.js';
import { runLoad } from '../client/load-run.js';
import { toWire, type LoadResultWire } from '../client/load-result-wire.js';
import { parseTarget, type Target } from '../client/probe-transport.js';
import type { AgentTarget } from './agent-config.js';

/** Finished runs kept for the compare mode to collect; older ones are forgotten. */
const RUNS_KEPT = 20;

export type AgentRun =
  | { readonly id: string; readonly label: string; readonly state: 'running' }
  | { readonly id: string; readonly label: string; readonly state: 'done'; readonly result: LoadResultWire }
  | { readonly id: string; readonly label: string; readonly state: 'failed'; readonly error: string };

const startBody = z.object({ label: z.string().min(1), load: loadSpecSchema }).strict();
const runParams = z.object({ id: z.uuid() });

export interface AgentServerOptions {
  readonly targets: readonly AgentTarget[];
  readonly logger: ReturnType<typeof createLogger>;
}

/**
 * The latency client's agent in the client VPC. The compare mode (in the cluster) asks it to run
 * a load against one of its configured paths, by label, and collects the result with its
 * histograms. One run at a time: two loads from one client would measure each other.
 */
export function createAgentServer(options: AgentServerOptions): FastifyInstance {
  const targets = new Map<string, Target>(
    options.targets.map((t) => [t.label, parseTarget(t.url, undefined, t.label)]),
  );
  const runs = new Map<string, AgentRun>();
  const controller = new AbortController();
  let running: Promise<void> | undefined;

  const app = Fastify({ loggerInstance: options.logger as FastifyBaseLogger });
  registerOpsRoutes(app, { registry: createRegistry('latency-agent'), checks: {} });

  app.get('/targets', async () => ({
    targets: [...targets.values()].map((t) => ({ label: t.label, url: t.url.href, protocol: t.protocol })),
  }));

  app.post('/runs', async (request, reply) => {
    const body = startBody.safeParse(request.body);
    if (!body.success) {
      const issue = body.error.issues[0];
      return reply.code(400).send({ error: `${issue?.path.join('.') || 'body'}: ${issue?.message}` });
    }
    const target = targets.get(body.data.label);
    if (!target) {
      return reply.code(404).send({
        error: `no target ${body.data.label}; this agent measures ${[...targets.keys()].join(', ')}`,
      });
    }
    if (running) return reply.code(409).send({ error: 'a run is in progress; one at a time' });

    const id = randomUUID();
    runs.set(id, { id, label: target.label, state: 'running' });
    request.log.info({ id, label: target.label, load: body.data.load }, 'run started');
    running = runLoad(target, body.data.load, { signal: controller.signal })
      .then(
        (result) => {
          runs.set(id, { id, label: target.label, state: 'done', result: toWire(result) });
          request.log.info({ id, label: target.label, received: result.received }, 'run done');
        },
        (err: unknown) => {
          const error = err instanceof Error ? err.message : String(err);
          runs.set(id, { id, label: target.label, state: 'failed', error });
          request.log.warn({ id, label: target.label, error }, 'run failed');
        },
      )
      .finally(() => {
        running = undefined;
        for (const old of [...runs.keys()].slice(0, Math.max(0, runs.size - RUNS_KEPT))) runs.delete(old);
      });
    return reply.code(202).send({ id, label: target.label, state: 'running' });
  });

  app.get('/runs/:id', async (request, reply) => {
    const params = runParams.safeParse(request.params);
    if (!params.success) return reply.code(400).send({ error: 'run ids are UUIDs' });
    const run = runs.get(params.data.id);
    if (!run) return reply.code(404).send({ error: `no run ${params.data.id}` });
    return run;
  });

  // A shutdown cuts the run short; its partial result stays collectable until the process exits.
  app.addHook('onClose', async () => {
    controller.abort();
    await running;
  });
  return app;
}
