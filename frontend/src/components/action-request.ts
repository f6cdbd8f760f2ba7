import { useState } from 'preact/hooks';
import type { AgentActionRequest, AgentView } from '../../../lambdas/domain/schemas.ts';
import { ApiError } from '../api.ts';
import { useServices } from '../services.ts';
import type { Notify } from './notice.tsx';

export type Action = AgentActionRequest['action'];

/**
 * Sends an action once per click (a fresh key each time) and tells the page what the server answered, as a notice
 * about the agent as it was when the request was sent (`seq`): the next change of the agent (the accepted action's
 * own update, or anything else) makes it history, so it never sits next to a later state. A refusal (409, 429) reads
 * as the server's own message; an accepted request says `accepted` (nothing when undefined: the status badge moving
 * on says it). An operator is asked for the reason first (dismissing the prompt sends nothing). `pending` is the
 * action in flight, so one hook can serve several buttons; `noticeId` names their notice.
 */
export function useActionRequest(
  view: Pick<AgentView, 'agentId' | 'seq'>,
  noticeId: string,
  notify: Notify,
): { pending: Action | undefined; request: (action: Action, accepted?: string) => Promise<void> } {
  const { api, session } = useServices();
  const [pending, setPending] = useState<Action>();
  const request = async (action: Action, accepted?: string): Promise<void> => {
    // An operator acting on an agent says why: the API requires it and keeps it on the agent's history.
    const reason = session.current?.groups.includes('operators')
      ? prompt(`Why ${action} this agent? The reason is kept on its history.`)
      : undefined;
    if (reason === null) return;
    const about = { seq: view.seq };
    setPending(action);
    try {
      // A fresh key per click: the server acts once per key, however often the request itself is resent.
      await api.requestAction(view.agentId, action, crypto.randomUUID(), reason);
      if (accepted !== undefined) notify({ id: noticeId, tone: 'neutral', text: accepted, about });
    } catch (error) {
      const text = error instanceof ApiError ? error.message : 'The request could not be sent.';
      notify({ id: noticeId, tone: 'bad', text, about });
    } finally {
      setPending(undefined);
    }
  };
  return { pending, request };
}
