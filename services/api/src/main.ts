import { configOrExit, createLogger, handleShutdown } from '@gavel/shared';
import { buildApp } from './app.js';
import { loadApiConfig } from './config.js';

const config = configOrExit('api', () => loadApiConfig());
const logger = createLogger('api', config.LOG_LEVEL, config.LOG_FORMAT);
const api = await buildApp(config, { logger });
await api.app.listen({ port: config.PORT, host: config.HOST });
logger.info(
  { port: config.PORT, strategy: config.BID_STRATEGY, authMode: config.AUTH_MODE },
  'api listening',
);
handleShutdown(() => api.close(), { logger, timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
