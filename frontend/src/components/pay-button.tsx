import { useState } from 'preact/hooks';
import { useServices } from '../services.ts';

/** A draft agent (checkout cancelled or abandoned) can still be paid for. */
export function PayButton({ agentId }: { agentId: string }) {
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
      </button>
      {problem === undefined ? null : (
        <p class="form__error" role="alert">
          {problem}
        </p>
      )}
    </section>
  );
}
