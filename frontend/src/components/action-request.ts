import { useState } from 'preact/hooks';
import type { AgentActionRequest } from '../../../lambdas/domain/schemas.ts';
import { ApiError } from '../api.ts';
import { useServices } from '../services.ts';

export type Action = AgentActionRequest['action'];

/** What the server answered to an action request, in words for the agent page. */
export interface ActionOutcome {
  readonly ok: boolean;
  readonly message: string;
}

/**
 * Sends an action once per click (a fresh key each time) and reports what the server answered; a refusal (409, 429)
 * reads as the server's own message. An operator is asked for the reason first (dismissing the prompt sends nothing). `pending` is the action in flight, so one hook can serve several buttons.
 */
export function useActionRequest(
  agentId: string,
  setOutcome: (outcome: ActionOutcome) => void,
): { pending: Action | undefined; request: (action: Action, accepted: string) => Promise<void> } {
  const { api, session } = useServices();
  const [pending, setPending] = useState<Action>();
  const request = async (action: Action, accepted: string): Promise<void> => {
    // An operator acting on an agent says why: the API requires it and keeps it on the agent's history.
    const reason = session.current?.groups.includes('operators')
      ? prompt(`Why ${action} this agent? The reason is kept on its history.`)
      : undefined;
    if (reason === null) return;
    setPending(action);
    try {
      // A fresh key per click: the server acts once per key, however often the request itself is resent.
      await api.requestAction(agentId, action, crypto.randomUUID(), reason);
      setOutcome({ ok: true, message: accepted });
    } catch (error) {
      setOutcome({ ok: false, message: error instanceof ApiError ? error.message : 'The request could not be sent.' });
    } finally {
      setPending(undefined);
    }
  };
  return { pending, request };
}
