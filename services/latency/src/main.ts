import { ConfigError, createLogger, handleShutdown } from '@gavel/shared';
import { loadEchoServerConfig } from './server/config.js';
import { createEchoServer } from './server/echo-server.js';

let config;
try {
  config = loadEchoServerConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}

const logger = createLogger('latency', config.LOG_LEVEL);
const server = createEchoServer({
  port: config.PORT,
  host: config.HOST,
  socketIoEcho: config.SOCKETIO_ECHO,
  maxPayload: config.MAX_PAYLOAD,
  drainTimeoutMs: config.DRAIN_TIMEOUT_MS,
  logger,
});
handleShutdown(() => server.close(), { logger });
const port = await server.listen();
logger.info({ port, socketIoEcho: config.SOCKETIO_ECHO }, 'latency echo server listening');
