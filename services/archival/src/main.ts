import Fastify from 'fastify';
import { configOrExit, createLogger, createRegistry, handleShutdown, registerOpsRoutes } from '@gavel/shared';
import { loadArchivalConfig } from './config.js';
import { ArchivalWorker } from './archival-worker.js';

const config = configOrExit('archival', () => loadArchivalConfig());
const logger = createLogger('archival', config.LOG_LEVEL, config.LOG_FORMAT);
const registry = createRegistry('archival');
const worker = await ArchivalWorker.connect({ config, logger, registry });

let draining = false;
const app = Fastify({ logger: false });
registerOpsRoutes(app, { registry, checks: worker.checks, isDraining: () => draining });
await app.listen({ port: config.PORT, host: '0.0.0.0' });
logger.info({ port: config.PORT }, 'ops server listening');

const stopping = new AbortController();
const running = worker.run(stopping.signal);
handleShutdown(
  async () => {
    draining = true;
    stopping.abort();
    await running;
    await app.close();
    await worker.close();
  },
  { logger },
);
await running.catch((err: unknown) => {
  logger.fatal({ err }, 'archival worker failed');
  process.exit(1);
});
