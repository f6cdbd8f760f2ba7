import type { ActionError, AgentView } from '../../../lambdas/domain/schemas.ts';
import type { UiStep } from '../../../lambdas/domain/steps.ts';
import { failureWordsOf } from '../../../lambdas/domain/wording.ts';
import { actionFailureText, pageActions } from '../presentation.ts';
import { useCaller } from '../services.ts';
import { useActionRequest } from './action-request.ts';
import { Notice, type Notify } from './notice.tsx';

/** The agent a panel acts on, and where the answer to its button goes (the page keeps it past the panel). */
interface PanelProps {
  view: AgentView;
  notify: Notify;
}

/**
 * Provisioning failed (or was cancelled) at `step`: what happened in the words the server chose for the viewer (the
 * customer's sentence; staff also read the workflow's step), and a retry.
 */
export function FailurePanel({ view, step, notify, staff }: PanelProps & { step: UiStep; staff: boolean }) {
  const { pending, request } = useActionRequest(view, 'retry', notify);
  const words = failureWordsOf(view);
  const mayRetry = pageActions(useCaller(), view).includes('retry');
  return (
    <Notice as="section" tone="bad" role="alert" testId="failure">
      <h2>
        <span aria-hidden="true">✕ </span>
        {words?.title ?? `Failed at ${step.label}`}
      </h2>
      {step.error === undefined ? null : <p data-testid="failure-error">{step.error}</p>}
      {staff && step.failedStep !== undefined ? <p class="muted">Workflow step: {step.failedStep}</p> : null}
      {mayRetry ? (
        <button
          type="button"
          class="button"
          onClick={() => void request('retry', 'Retry requested: the new attempt shows up here.')}
          disabled={pending !== undefined}
          data-testid="retry"
        >
          {pending === undefined ? 'Retry' : 'Retrying…'}
        </button>
      ) : null}
    </Notice>
  );
}

/** The agent's last stop, start or destroy failed for good: why, and the same action again. */
export function ActionFailurePanel({ view, error, notify }: PanelProps & { error: ActionError }) {
  const { pending, request } = useActionRequest(view, 'try-again', notify);
  const mayTryAgain = pageActions(useCaller(), view).includes(error.action);
  return (
    <Notice as="section" tone="bad" role="alert" testId="action-failure">
      <p>
        <span aria-hidden="true">✕ </span>
        <span data-testid="action-failure-text">{actionFailureText(error)}</span>
        {mayTryAgain ? ' — try again.' : null}
      </p>
      {mayTryAgain ? (
        <button
          type="button"
          class="button"
          onClick={() => void request(error.action)}
          disabled={pending !== undefined}
          data-testid="try-again"
        >
          {pending === undefined ? 'Try again' : 'Sending…'}
        </button>
      ) : null}
    </Notice>
  );
}
