import { configOrExit, createLogger, handleShutdown } from '@gavel/shared';
import { loadEchoServerConfig } from './server/config.js';
import { createEchoServer } from './server/echo-server.js';

const config = configOrExit('latency', () => loadEchoServerConfig());
const logger = createLogger('latency', config.LOG_LEVEL, config.LOG_FORMAT);
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
