import type { ActionError } from '../../../lambdas/domain/schemas.ts';
import type { UiStep } from '../../../lambdas/domain/steps.ts';
import { actionFailureText } from '../presentation.ts';
import { type ActionOutcome, useActionRequest } from './action-request.ts';
import { Notice } from './notice.tsx';

/** The agent a panel acts on, and where the answer to its button goes (the page keeps it past the panel). */
interface PanelProps {
  agentId: string;
  onOutcome: (outcome: ActionOutcome) => void;
}

/** Provisioning failed at `step`: where and why, and a retry. */
export function FailurePanel({ agentId, step, onOutcome }: PanelProps & { step: UiStep }) {
  const { pending, request } = useActionRequest(agentId, onOutcome);
  return (
    <Notice as="section" tone="bad" role="alert" testId="failure">
      <h2>
        <span aria-hidden="true">✕ </span>Failed at {step.label}
      </h2>
      {step.error === undefined ? null : <p data-testid="failure-error">{step.error}</p>}
      {step.failedStep === undefined ? null : <p class="muted">Workflow step: {step.failedStep}</p>}
      <button
        type="button"
        class="button"
        onClick={() => void request('retry', 'Retry requested: the new attempt shows up here.')}
        disabled={pending !== undefined}
        data-testid="retry"
      >
        {pending === undefined ? 'Retry' : 'Retrying…'}
      </button>
    </Notice>
  );
}

/** The agent's last stop, start or destroy failed for good: why, and the same action again. */
export function ActionFailurePanel({ agentId, error, onOutcome }: PanelProps & { error: ActionError }) {
  const { pending, request } = useActionRequest(agentId, onOutcome);
  return (
    <Notice as="section" tone="bad" role="alert" testId="action-failure">
      <p>
        <span aria-hidden="true">✕ </span>
        <span data-testid="action-failure-text">{actionFailureText(error)}</span> — try again.
      </p>
      <button
        type="button"
        class="button"
        onClick={() => void request(error.action, 'Requested again: progress shows up here.')}
        disabled={pending !== undefined}
        data-testid="try-again"
      >
        {pending === undefined ? 'Try again' : 'Sending…'}
      </button>
    </Notice>
  );
}
