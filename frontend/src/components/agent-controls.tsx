import type { Caller } from '../../../lambdas/domain/access.ts';
import type { AgentView } from '../../../lambdas/domain/schemas.ts';
import { type AgentControl, availableControls } from '../presentation.ts';
import { useCaller } from '../services.ts';
import { useActionRequest } from './action-request.ts';
import type { Notify } from './notice.tsx';

const CONTROL_LABELS: Readonly<Record<AgentControl, string>> = {
  stop: 'Stop',
  start: 'Start',
  destroy: 'Destroy',
  cancel: 'Cancel provisioning',
};

/** What a control that cannot be undone asks first; the others act at once. */
function confirmation(action: AgentControl, view: AgentView, role: Caller['role']): string | undefined {
  if (action === 'destroy') return `Destroy ${view.name}? Its server is deleted and this cannot be undone.`;
  if (action !== 'cancel') return undefined;
  return role === 'customer'
    ? `Cancel the provisioning of ${view.name}? What was set up is removed and the agent is destroyed; an agent that never ran is not charged.`
    : `Cancel the provisioning of ${view.name}? What was set up is removed; its owner may retry it.`;
}

/**
 * Stop, Start, Destroy and Cancel provisioning, as far as the viewer may and the agent's state allows (the API's own
 * rule, presentation.ts#availableControls): support is offered none. An accepted request shows as the status badge
 * moving on (live, over the socket); only a refusal needs words (the page's `control` notice). Destroy and Cancel
 * cannot be undone, so they ask first.
 */
export function AgentControls({ view, notify }: { view: AgentView; notify: Notify }) {
  const caller = useCaller();
  const { pending, request } = useActionRequest(view, 'control', notify);
  const controls = availableControls(caller, view);
  if (controls.length === 0) return null;

  const click = (action: AgentControl): void => {
    const question = confirmation(action, view, caller.role);
    if (question !== undefined && !confirm(question)) return;
    void request(action);
  };

  return (
    <section class="card" aria-label="Agent controls">
      <div class="controls">
        {controls.map((action) => (
          <button
            key={action}
            type="button"
            class={`button${action === 'destroy' || action === 'cancel' ? ' button--danger' : ''}`}
            onClick={() => click(action)}
            disabled={pending !== undefined}
            data-testid={`control-${action}`}
          >
            {pending === action ? 'Sending…' : CONTROL_LABELS[action]}
          </button>
        ))}
      </div>
    </section>
  );
}
