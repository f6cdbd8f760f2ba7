/**
 * Merging what the server sends about one agent into what the page shows. Delivery is at least once and a
 * reconnect replays missed updates, so the page keeps the newest view by `seq` and drops anything it already has.
 */
import type { AgentView, ClientMessage, ServerMessage } from '../../../lambdas/domain/schemas.ts';

type HeartbeatMessage = Extract<ServerMessage, { type: 'heartbeat' }>;

/**
 * The view after receiving `incoming`, or `undefined` when `incoming` changes nothing.
 * An update must be newer than what the page has (`seq` strictly greater). A snapshot (or a REST read) replaces the
 * view unless it is older, since a snapshot at the same seq can carry fresher fields than the update it follows.
 * The newest heartbeat of the same job is kept: history updates do not carry heartbeats.
 */
export function mergeAgentView(
  current: AgentView | undefined,
  incoming: AgentView,
  kind: 'snapshot' | 'update',
): AgentView | undefined {
  if (current !== undefined) {
    if (kind === 'update' ? incoming.seq <= current.seq : incoming.seq < current.seq) return undefined;
  }
  const next: AgentView = { ...incoming };
  const heartbeat = latestHeartbeat(current, incoming);
  if (heartbeat === undefined) delete next.lastHeartbeatAt;
  else next.lastHeartbeatAt = heartbeat;
  return next;
}

function latestHeartbeat(current: AgentView | undefined, incoming: AgentView): string | undefined {
  const carried = current?.jobId === incoming.jobId ? current?.lastHeartbeatAt : undefined;
  const candidates = [carried, incoming.lastHeartbeatAt].filter((at): at is string => at !== undefined);
  return candidates.sort((a, b) => Date.parse(a) - Date.parse(b)).at(-1);
}

/** The view after a heartbeat, or `undefined` when the heartbeat is for another job or older than what the page has. */
export function applyHeartbeat(current: AgentView | undefined, heartbeat: HeartbeatMessage): AgentView | undefined {
  if (current === undefined || current.jobId !== heartbeat.jobId) return undefined;
  if (current.lastHeartbeatAt !== undefined && Date.parse(current.lastHeartbeatAt) >= Date.parse(heartbeat.at)) {
    return undefined;
  }
  return { ...current, lastHeartbeatAt: heartbeat.at };
}

/**
 * The subscribe messages that restore every watched agent on a new connection: `since` is the last seq the page has,
 * so the server replays exactly what was missed.
 */
export function resubscribeMessages(watched: Iterable<string>, views: ReadonlyMap<string, AgentView>): ClientMessage[] {
  return Array.from(watched, (agentId) => {
    const seq = views.get(agentId)?.seq;
    return seq === undefined ? { action: 'subscribe', agentId } : { action: 'subscribe', agentId, since: seq };
  });
}
