/**
 * The answers to each WebSocket client message; a subscription is stored before anything is read for it.
 * See docs/ARCHITECTURE.md, "Live status fan-out".
 */
import { isStaff, maySee, shownTo } from '../domain/access.ts';
import type { ClientMessage, ServerMessage } from '../domain/schemas.ts';
import { agentView, getAgent, historySince } from '../shared/repository.ts';
import { getConnection, subscribe, subscribeFleet, unsubscribe, unsubscribeFleet } from '../shared/connections.ts';

/** The answer to a message that no route understands, or that does not match its route's schema. */
export function badRequest(message: string): ServerMessage {
  return { type: 'error', code: 'bad_request', message };
}

/** Handles one valid client message from `connectionId` and returns what to send back, in order. */
export async function answer(connectionId: string, message: ClientMessage): Promise<ServerMessage[]> {
  switch (message.action) {
    case 'ping':
      return [{ type: 'pong' }];
    case 'unsubscribe':
      await unsubscribe(connectionId, message.agentId);
      return [];
    case 'subscribe':
      return subscribeToAgent(connectionId, message.agentId, message.since);
    case 'subscribeFleet':
      return subscribeToFleet(connectionId);
    case 'unsubscribeFleet':
      await unsubscribeFleet(connectionId);
      return [];
  }
}

async function subscribeToFleet(connectionId: string): Promise<ServerMessage[]> {
  const forbidden: ServerMessage = {
    type: 'error',
    code: 'forbidden',
    message: 'The fleet channel is for operators and support',
  };
  const connection = await getConnection(connectionId);
  if (connection === undefined || !isStaff(connection)) return [forbidden];
  return (await subscribeFleet(connection)) ? [{ type: 'fleet-subscribed' }] : [forbidden];
}

async function subscribeToAgent(
  connectionId: string,
  agentId: string,
  since: number | undefined,
): Promise<ServerMessage[]> {
  const forbidden: ServerMessage = { type: 'error', code: 'forbidden', message: 'Not your agent', agentId };
  const connection = await getConnection(connectionId);
  if (connection === undefined) return [forbidden];
  // An unknown agent and someone else's agent answer the same, so subscribing does not reveal which agents exist.
  const agent = await getAgent(agentId);
  if (agent === undefined || !maySee(connection, agent)) return [forbidden];

  if (!(await subscribe(connection, agentId))) return [forbidden];

  if (since !== undefined) {
    const missed = await historySince(agentId, since);
    // Nothing missed still gets an answer (the snapshot): a dashboard counts itself subscribed only once one comes.
    if (missed.length > 0) return missed.map((update) => shownTo(connection.role, { ...update, type: 'update' }));
  }
  const current = await agentView(agentId);
  return current === undefined ? [forbidden] : [shownTo(connection.role, { type: 'snapshot', ...current.view })];
}
