/** Hetzner Cloud power actions: start one on a server and wait until Hetzner reports it finished. */
import { apiMessage, callApi } from '../shared/clients/api-client.ts';
import type { HetznerTarget } from '../shared/clients/hetzner.ts';
import { ERROR_NAMES } from '../domain/error-names.ts';

export type PowerCommand = 'poweroff' | 'poweron';

/** Hetzner reported the action as failed, or it did not finish in time: the invocation fails and is retried. */
export class PowerActionFailedError extends Error {
  override readonly name = ERROR_NAMES.PowerActionFailed;
}

interface HetznerAction {
  id: number;
  status: 'running' | 'success' | 'error';
  error?: { message?: string } | null;
}

const base = (target: HetznerTarget) => target.apiUrl.replace(/\/$/, '');

/**
 * Runs `command` on the server and polls its action every `pollMs` until it succeeds.
 * @returns false when the server does not exist (nothing to power)
 */
export async function runPowerCommand(
  target: HetznerTarget,
  serverId: string,
  command: PowerCommand,
  { pollMs = 1000, maxPolls = 40 }: { pollMs?: number; maxPolls?: number } = {},
): Promise<boolean> {
  const started = await callApi({
    method: 'POST',
    url: `${base(target)}/servers/${encodeURIComponent(serverId)}/actions/${command}`,
    token: target.token,
  });
  if (started.status === 404) return false;
  if (started.status >= 400) {
    throw new PowerActionFailedError(
      `Hetzner ${command} of server ${serverId} refused (HTTP ${started.status}): ${apiMessage(started.body, 'no reason given')}`,
    );
  }
  let action = (started.body as { action: HetznerAction }).action;
  for (let poll = 0; action.status === 'running'; poll++) {
    if (poll >= maxPolls)
      throw new PowerActionFailedError(
        `Hetzner ${command} of server ${serverId} still running after ${maxPolls} polls`,
      );
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    const response = await callApi({ method: 'GET', url: `${base(target)}/actions/${action.id}`, token: target.token });
    if (response.status !== 200) {
      throw new PowerActionFailedError(
        `Reading Hetzner action ${action.id} failed (HTTP ${response.status}): ${apiMessage(response.body, 'no reason given')}`,
      );
    }
    action = (response.body as { action: HetznerAction }).action;
  }
  if (action.status === 'error') {
    throw new PowerActionFailedError(
      `Hetzner ${command} of server ${serverId} failed: ${action.error?.message ?? 'no reason given'}`,
    );
  }
  return true;
}
