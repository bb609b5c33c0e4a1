import { createServer } from 'node:net';
import { frameTcp, readTcpFrames } from '../src/client/probe-transport.js';

/**
 * The baseline the WebSocket echo server is compared with: plain TCP, Nagle off, the same
 * length-prefixed frames as the load client's tcp:// transport, each frame parsed and written
 * back on its own (the least work an echo server with message boundaries can do).
 */
const port = Number(process.env.PORT ?? 9090);
const server = createServer((socket) => {
  socket.setNoDelay(true);
  socket.on(
    'data',
    readTcpFrames((frame) => socket.write(frameTcp(frame))),
  );
  socket.on('error', () => socket.destroy());
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
