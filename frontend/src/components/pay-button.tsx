import { useState } from 'preact/hooks';
import type { AgentView } from '../../../lambdas/domain/schemas.ts';
import { useCaller, useServices } from '../services.ts';
import { DeleteDraftButton } from './delete-draft-button.tsx';

/** A draft agent (checkout cancelled or abandoned) can still be paid for, or deleted (then back to the list). */
export function PayButton({ view }: { view: AgentView }) {
  const { agentId } = view;
  // A customer sees only their own agents; staff on a draft's page may be looking at someone else's.
  const own = useCaller().role === 'customer';
  const { api } = useServices();
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();

  const pay = async (): Promise<void> => {
    setBusy(true);
    try {
      location.assign(await api.checkout(agentId));
    } catch (error) {
      setProblem(error instanceof Error ? error.message : 'Could not open the checkout');
      setBusy(false);
    }
  };

  return (
    <section class="card">
      <p>This agent is not paid for yet. It starts as soon as the payment goes through.</p>
      <button type="button" class="button button--primary" onClick={() => void pay()} disabled={busy}>
        {busy ? 'Opening checkout…' : 'Continue to payment'}
      </button>{' '}
      <DeleteDraftButton
        agent={view}
        own={own}
        onDeleted={() => {
          location.hash = '#/';
        }}
      />
      {problem === undefined ? null : (
        <p class="form__error" role="alert">
          {problem}
        </p>
      )}
    </section>
  );
}
