import { ConfigError, createLogger, handleShutdown } from '@gavel/shared';
import { buildApp } from './app.js';
import { loadApiConfig, type ApiConfig } from './config.js';

let config: ApiConfig;
try {
  config = loadApiConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`api: ${err.message}`);
  process.exit(2);
}

const logger = createLogger('api', config.LOG_LEVEL);
const api = await buildApp(config, { logger });
await api.app.listen({ port: config.PORT, host: config.HOST });
logger.info(
  { port: config.PORT, strategy: config.BID_STRATEGY, authMode: config.AUTH_MODE },
  'api listening',
);
handleShutdown(() => api.close(), { logger, timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
