/**
 * Whether the page may say Live: only while the open socket is subscribed to every watched agent. A subscribe counts
 * once a snapshot or update of its agent arrives on that socket (the server answers every subscribe with one). One that API Gateway throttled or whose handler failed (API Gateway then answers
 * `{"message": "Too Many Requests" | "Internal server error", ...}` without naming the request), one the server answered
 * with `internal`, and one left unanswered for SUBSCRIBE_CONFIRM_MS are sent again with full-jitter backoff.
 */
import type { ConnectionStatus } from './reconnect.ts';

/** A subscribe not answered by its snapshot within this long is sent again. */
export const SUBSCRIBE_CONFIRM_MS = 5_000;

/**
 * What the connection indicator shows: an open socket counts as Live only when every watched agent is subscribed, or
 * cannot be (forbidden, not found: the page shows that instead of live data).
 */
export function shownStatus(
  socketStatus: ConnectionStatus,
  watched: Iterable<string>,
  subscribed: ReadonlySet<string>,
  unavailable: ReadonlyMap<string, unknown>,
): ConnectionStatus {
  if (socketStatus !== 'live') return socketStatus;
  for (const agentId of watched) {
    if (!subscribed.has(agentId) && !unavailable.has(agentId)) return 'connecting';
  }
  return 'live';
}

/** API Gateway's own answer to a message it did not deliver (throttled, or the route's function failed). */
export function isGatewayError(json: unknown): boolean {
  return (
    typeof json === 'object' &&
    json !== null &&
    !('type' in json) &&
    typeof (json as { message?: unknown }).message === 'string'
  );
}
