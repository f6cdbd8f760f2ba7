/**
 * The fan-out floor's server (forked by bench/lib/floor-server.ts): a minimal `ws` server with no gateway, no handler
 * and no SDK, alone in its process. It answers `subscribe` with a snapshot, so the fleet's dashboards connect to it
 * exactly as they connect to the stack, and writes a message to every subscribed socket when told to.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { FloorCommand, FloorReply } from './floor-server.ts';
import { now } from './pipeline.ts';

const reply = (message: FloorReply) => process.send?.(message);
const subscribed = new Set<WebSocket>();
let snapshot = '';

const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
server.on('connection', (socket) => {
  socket.on('message', () => {
    subscribed.add(socket);
    socket.send(snapshot);
  });
  socket.on('close', () => subscribed.delete(socket));
});
await once(server, 'listening');

process.on('message', (command: FloorCommand) => {
  switch (command.cmd) {
    case 'snapshot':
      snapshot = command.message;
      reply({ event: 'ready', port: (server.address() as AddressInfo).port });
      break;
    case 'broadcast': {
      // Stamped where a callback's 200 would be: the moment the server starts writing.
      const startedAt = now();
      for (const socket of subscribed) socket.send(command.message);
      reply({ event: 'sent', startedAt, rss: process.memoryUsage().rss });
      break;
    }
    case 'exit':
      for (const socket of server.clients) socket.terminate();
      server.close(() => process.exit(0));
  }
});
