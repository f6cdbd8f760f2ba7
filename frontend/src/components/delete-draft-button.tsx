import { useState } from 'preact/hooks';
import { type Caller, mayDeleteDraft } from '../../../lambdas/domain/access.ts';
import type { AgentView } from '../../../lambdas/domain/schemas.ts';
import { useCaller, useServices } from '../services.ts';

/** What the delete needs of an agent: whether it is a draft that was never paid for. */
type DraftLike = Pick<AgentView, 'agentId' | 'name' | 'agentStatus' | 'subscriptionEndedAt'>;

/**
 * The API's rule (DELETE /agents/{agentId}, access.ts#mayDeleteDraft): the owner's draft that was never paid for.
 * `own`: the page knows the agent is the caller's (the agent list holds only theirs; a customer sees no one else's).
 */
function offersDelete(caller: Caller, agent: DraftLike, own: boolean): boolean {
  return (
    own &&
    agent.agentStatus === 'draft' &&
    agent.subscriptionEndedAt === undefined &&
    mayDeleteDraft(caller, { userId: caller.userId })
  );
}

/**
 * Deletes an unpaid draft after a confirm; `onDeleted` runs on the API's 204 (the list drops it, the draft's page goes
 * back to the list). A draft paid meanwhile is kept, and the API's words say so.
 */
export function DeleteDraftButton({
  agent,
  own,
  onDeleted,
}: {
  agent: DraftLike;
  own: boolean;
  onDeleted: () => void;
}) {
  const { api } = useServices();
  const caller = useCaller();
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();
  if (!offersDelete(caller, agent, own)) return null;

  const remove = async (): Promise<void> => {
    if (!confirm(`Delete the draft “${agent.name}”? It was never paid for; nothing is charged.`)) return;
    setBusy(true);
    setProblem(undefined);
    try {
      await api.deleteDraft(agent.agentId);
      onDeleted();
    } catch (error) {
      setProblem(error instanceof Error ? error.message : 'Could not delete the draft');
      setBusy(false);
    }
  };

  return (
    <>
      <button
        type="button"
        class="button button--danger"
        onClick={() => void remove()}
        disabled={busy}
        data-testid="delete-draft"
      >
        {busy ? 'Deleting…' : 'Delete draft'}
      </button>
      {problem === undefined ? null : (
        <p class="form__error" role="alert">
          {problem}
        </p>
      )}
    </>
  );
}
