import { useState } from 'preact/hooks';
import type { AgentView } from '../../../lambdas/domain/schemas.ts';
import { type AgentControl, availableControls } from '../presentation.ts';
import { type ActionOutcome, useActionRequest } from './action-request.ts';

const CONTROL_LABELS: Readonly<Record<AgentControl, string>> = {
  stop: 'Stop',
  start: 'Start',
  destroy: 'Destroy',
};

/**
 * Stop, Start and Destroy, as far as the agent's status allows. An accepted request shows as the status badge moving
 * on (live, over the socket); only a refusal needs words. Destroy cannot be undone, so it asks first.
 */
export function AgentControls({ view }: { view: AgentView }) {
  const [outcome, setOutcome] = useState<ActionOutcome>();
  const { pending, request } = useActionRequest(view.agentId, setOutcome);
  const controls = availableControls(view);
  if (controls.length === 0) return null;

  const click = (action: AgentControl): void => {
    if (action === 'destroy' && !confirm(`Destroy ${view.name}? Its server is deleted and this cannot be undone.`))
      return;
    void request(action, `${CONTROL_LABELS[action]} requested.`);
  };

  return (
    <section class="card" aria-label="Agent controls">
      <div class="controls">
        {controls.map((action) => (
          <button
            key={action}
            type="button"
            class={`button${action === 'destroy' ? ' button--danger' : ''}`}
            onClick={() => click(action)}
            disabled={pending !== undefined}
            data-testid={`control-${action}`}
          >
            {pending === action ? 'Sending…' : CONTROL_LABELS[action]}
          </button>
        ))}
      </div>
      {outcome?.ok === false ? (
        <p class="form__error" role="status" data-testid="control-outcome">
          {outcome.message}
        </p>
      ) : null}
    </section>
  );
}
