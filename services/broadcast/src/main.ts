import { configOrExit, createLogger, handleShutdown } from '@gavel/shared';
import { buildBroadcastApp } from './app.js';
import { loadBroadcastConfig } from './config.js';

const config = configOrExit('broadcast', () => loadBroadcastConfig());
const logger = createLogger('broadcast', config.LOG_LEVEL, config.LOG_FORMAT).child({
  replica: config.REPLICA_ID,
  color: config.BROADCAST_COLOR,
});
const broadcast = await buildBroadcastApp(config, logger);
const port = await broadcast.listen();
logger.info({ port }, 'broadcast listening');
handleShutdown(() => broadcast.drain(), { logger, timeoutMs: (config.DRAIN_TIMEOUT_S + 15) * 1000 });
