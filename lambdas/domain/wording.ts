/**
 * What a customer reads of a provisioning that did not end in a running agent: a title and a sentence for each kind
 * of failure and for a cancel, in their words. The job's own `error` is for staff: it may quote an operator's note,
 * name a member of the team, or be a workflow's technical message. Every view a customer receives (REST, snapshot,
 * replayed and fanned-out updates) is put in these words by the server (`access.ts#shownTo`, beside support's
 * redaction), and the dashboard titles its failure panel with the same function. Pure.
 */
import type { AgentView } from './schemas.ts';
import { CANCELLED_STEP, type UiStepKey } from './steps.ts';

/** The heading and the sentence of a failure or a cancel. */
export interface FailureWords {
  readonly title: string;
  readonly detail: string;
}

/** What could not be done, by the step shown in error. */
const STEP_FAILURES: Readonly<Record<UiStepKey, string>> = {
  queued: 'The setup could not start.',
  creating: 'The server could not be created.',
  networking: "The server's private network could not be set up.",
  installing: "The agent's software could not be installed.",
  configuring: 'The agent could not be configured.',
  running: 'The agent did not start.',
};

/** The part of a view the words depend on. */
export type WordedView = Pick<AgentView, 'agentStatus' | 'failedStep' | 'steps'>;

/** True when the provisioning was cancelled (by an operator or by its owner), not failed. */
export function isCancelledProvisioning(view: Pick<AgentView, 'failedStep'>): boolean {
  return view.failedStep === CANCELLED_STEP;
}

/**
 * The words of the view's failed provisioning, or undefined when no step is in error. A cancel is not a failure at
 * the step that happened to be active; once the agent is being removed, that is what the customer reads.
 */
export function failureWordsOf(view: WordedView): FailureWords | undefined {
  const step = view.steps.find((candidate) => candidate.status === 'error');
  if (step === undefined) return undefined;
  if (isCancelledProvisioning(view)) {
    return {
      title: 'Provisioning cancelled',
      detail:
        view.agentStatus === 'failed'
          ? 'Our team stopped this provisioning and removed what it had set up. You can retry it.'
          : 'The provisioning was stopped and this agent is being removed.',
    };
  }
  return {
    title: `Failed at ${step.label}`,
    detail: `${STEP_FAILURES[step.key]} What was set up so far is removed; Retry starts a new attempt.`,
  };
}

const isWordedView = (value: unknown): value is WordedView & Pick<AgentView, 'error'> =>
  typeof value === 'object' &&
  value !== null &&
  'agentStatus' in value &&
  Array.isArray((value as { steps?: unknown }).steps);

/**
 * A copy of an agent view (or snapshot / update message) as its owner receives it: the failure's `error`, on the view
 * and on its step, is the customer's sentence, and the workflow's step name stays with staff. Anything else is
 * returned as it is.
 */
export function inCustomerWords<T>(value: T): T {
  if (!isWordedView(value)) return value;
  const words = failureWordsOf(value);
  if (words === undefined) return value;
  const steps = value.steps.map((step) => {
    if (step.status !== 'error') return step;
    const { failedStep: _staffOnly, ...shown } = step;
    return { ...shown, error: words.detail };
  });
  return { ...value, steps, error: words.detail };
}
