import { useEffect, useState } from 'preact/hooks';
import type { ActionError, AgentActionRequest, AgentView } from '../../../lambdas/domain/schemas.ts';
import type { UiStep } from '../../../lambdas/domain/steps.ts';
import { ApiError } from '../api.ts';
import {
  actionFailureText,
  type AgentControl,
  agentStatusBadge,
  availableControls,
  formatAge,
  heartbeatAgeMs,
  isStale,
  stepStatusBadge,
  stepTimeLabel,
} from '../presentation.ts';
import type { CheckoutReturn } from '../router.ts';
import { useLiveState, useNow, useServices } from '../services.ts';
import { StatusBadge } from './badge.tsx';

const CHECKOUT_OUTCOMES: Readonly<Record<CheckoutReturn['outcome'], string>> = {
  success: 'Payment received: your agent is being set up. You can follow every step here.',
  cancelled: 'Checkout was cancelled: nothing was charged and the agent stays a draft.',
};

/** One agent, live: its provisioning steps, heartbeat, VM and what to do when it failed. */
export function AgentPage({
  agentId,
  checkout,
}: {
  agentId: string;
  checkout?: CheckoutReturn['outcome'] | undefined;
}) {
  const { live } = useServices();
  const { agents, problems } = useLiveState();
  useEffect(() => live.watch(agentId), [live, agentId]);

  const view = agents.get(agentId);
  // The checkout notice matters until provisioning is over; then the steps tell the story.
  const settingUp = view === undefined || view.agentStatus === 'draft' || view.agentStatus === 'provisioning';
  return (
    <main class="page">
      <p>
        <a href="#/">← All agents</a>
      </p>
      {checkout === undefined || !settingUp ? null : (
        <p
          class={`notice notice--${checkout === 'success' ? 'good' : 'neutral'}`}
          role="status"
          data-testid="checkout-outcome"
        >
          {CHECKOUT_OUTCOMES[checkout]}
        </p>
      )}
      {view !== undefined ? (
        <AgentDetails view={view} />
      ) : problems.has(agentId) ? (
        <section class="card" data-testid="agent-missing">
          <h1>Agent not found</h1>
          <p>There is no agent with this id in your account.</p>
        </section>
      ) : (
        <p aria-busy="true">Loading…</p>
      )}
    </main>
  );
}

function AgentDetails({ view }: { view: AgentView }) {
  const provisioning = view.agentStatus === 'provisioning';
  const now = useNow(provisioning);
  const failedStep = view.steps.find((step) => step.status === 'error');
  // Kept here, not in the failure panels: an accepted request moves the agent on, which removes its panel.
  const [retryOutcome, setRetryOutcome] = useState<ActionOutcome>();
  const [tryAgainOutcome, setTryAgainOutcome] = useState<ActionOutcome>();

  return (
    <article class="agent" data-testid="agent" data-seq={view.seq} aria-labelledby="agent-heading">
      <header class="agent__header">
        <h1 id="agent-heading">{view.name}</h1>
        <StatusBadge badge={agentStatusBadge(view.agentStatus)} testId="agent-status" />
        {isStale(view, now) ? (
          <StatusBadge badge={{ label: 'Stale: no heartbeat for 90 s', icon: '⚠', tone: 'bad' }} testId="stale" />
        ) : null}
      </header>
      <p class="muted">
        Region {view.region} · Agent {view.agentId}
      </p>

      {view.paymentIssue === true ? (
        <p class="notice notice--bad" role="alert" data-testid="payment-issue">
          <span aria-hidden="true">⚠ </span>
          Your last payment did not go through. Please update your payment method so this agent keeps running.
        </p>
      ) : null}

      {view.subscriptionEndedAt !== undefined && view.agentStatus !== 'destroyed' ? (
        <p class="notice notice--bad" role="status" data-testid="subscription-ended">
          {view.agentStatus === 'draft'
            ? 'Subscription ended before this agent was provisioned: create a new agent to start again.'
            : 'Subscription ended: this agent will be removed.'}
        </p>
      ) : null}

      {view.failedExpiresAt !== undefined ? (
        <p class="notice notice--bad" role="status" data-testid="failed-expires">
          If you do not retry this agent by{' '}
          <time dateTime={view.failedExpiresAt}>
            {new Date(view.failedExpiresAt).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })}
          </time>
          , it will be removed and its subscription cancelled.
        </p>
      ) : null}

      {view.agentStatus === 'draft' && view.subscriptionEndedAt === undefined ? (
        <PayButton agentId={view.agentId} />
      ) : null}
      <AgentControls view={view} />

      {view.actionError === undefined ? null : (
        <ActionFailurePanel agentId={view.agentId} error={view.actionError} onOutcome={setTryAgainOutcome} />
      )}
      {/* An accepted request clears the failure and the status badge shows the progress: only a refusal needs words. */}
      {tryAgainOutcome?.ok === false && view.actionError !== undefined ? (
        <p class="notice notice--bad" role="status" data-testid="try-again-outcome">
          {tryAgainOutcome.message}
        </p>
      ) : null}

      {failedStep !== undefined && view.agentStatus === 'failed' ? (
        <FailurePanel agentId={view.agentId} step={failedStep} onOutcome={setRetryOutcome} />
      ) : null}
      {retryOutcome !== undefined && (view.agentStatus === 'failed' || view.agentStatus === 'provisioning') ? (
        <p class={`notice notice--${retryOutcome.ok ? 'neutral' : 'bad'}`} role="status" data-testid="retry-outcome">
          {retryOutcome.message}
        </p>
      ) : null}

      <section aria-labelledby="steps-heading" class="card">
        <h2 id="steps-heading">Provisioning</h2>
        <StepList steps={view.steps} now={now} />
        {provisioning ? <HeartbeatAge view={view} now={now} /> : null}
        {view.workflowRunUrl === undefined ? null : (
          <p>
            <a href={view.workflowRunUrl} target="_blank" rel="noopener noreferrer" data-testid="workflow-run">
              View the workflow run logs
            </a>
          </p>
        )}
      </section>

      {view.agentStatus === 'active' && view.vm !== undefined ? (
        <section aria-labelledby="vm-heading" class="card">
          <h2 id="vm-heading">Server</h2>
          <dl class="details" data-testid="vm">
            <dt>Server IP</dt>
            <dd data-testid="server-ip">{view.vm.serverIp ?? '—'}</dd>
            <dt>Tailscale IP</dt>
            <dd data-testid="tailscale-ip">{view.vm.tailscaleIp ?? '—'}</dd>
          </dl>
        </section>
      ) : null}
    </article>
  );
}

function StepList({ steps, now }: { steps: readonly UiStep[]; now: Date }) {
  return (
    <ol class="steps" data-testid="steps">
      {steps.map((step) => {
        const badge = stepStatusBadge(step.status);
        return (
          <li
            key={step.key}
            class={`step step--${step.status}`}
            data-testid={`step-${step.key}`}
            data-status={step.status}
            aria-current={step.status === 'active' ? 'step' : undefined}
          >
            <span class="step__icon" aria-hidden="true">
              {badge.icon}
            </span>
            <span class="step__label">{step.label}</span>
            <span class="step__status">{badge.label}</span>
            <span class="step__duration" data-testid={`duration-${step.key}`}>
              {stepTimeLabel(step, steps, now)}
            </span>
          </li>
        );
      })}
    </ol>
  );
}

function HeartbeatAge({ view, now }: { view: AgentView; now: Date }) {
  const ageMs = heartbeatAgeMs(view, now);
  return (
    <p class="muted" data-testid="heartbeat">
      {ageMs === undefined ? 'No heartbeat yet' : `Last heartbeat ${formatAge(ageMs)}`}
    </p>
  );
}

/** A draft agent (checkout cancelled or abandoned) can still be paid for. */
function PayButton({ agentId }: { agentId: string }) {
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

type Action = AgentActionRequest['action'];

interface ActionOutcome {
  readonly ok: boolean;
  readonly message: string;
}

/**
 * Sends an action once per click (a fresh key each time) and reports what the server answered; a refusal (409, 429)
 * reads as the server's own message. `pending` is the action in flight, so one hook can serve several buttons.
 */
function useActionRequest(
  agentId: string,
  setOutcome: (outcome: ActionOutcome) => void,
): { pending: Action | undefined; request: (action: Action, accepted: string) => Promise<void> } {
  const { api } = useServices();
  const [pending, setPending] = useState<Action>();
  const request = async (action: Action, accepted: string): Promise<void> => {
    setPending(action);
    try {
      // A fresh key per click: the server acts once per key, however often the request itself is resent.
      await api.requestAction(agentId, action, crypto.randomUUID());
      setOutcome({ ok: true, message: accepted });
    } catch (error) {
      setOutcome({ ok: false, message: error instanceof ApiError ? error.message : 'The request could not be sent.' });
    } finally {
      setPending(undefined);
    }
  };
  return { pending, request };
}

const CONTROL_LABELS: Readonly<Record<AgentControl, string>> = {
  stop: 'Stop',
  start: 'Start',
  destroy: 'Destroy',
};

/**
 * Stop, Start and Destroy, as far as the agent's status allows. An accepted request shows as the status badge moving
 * on (live, over the socket); only a refusal needs words. Destroy cannot be undone, so it asks first.
 */
function AgentControls({ view }: { view: AgentView }) {
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

function FailurePanel({
  agentId,
  step,
  onOutcome,
}: {
  agentId: string;
  step: UiStep;
  onOutcome: (outcome: ActionOutcome) => void;
}) {
  const { pending, request } = useActionRequest(agentId, onOutcome);
  return (
    <section class="notice notice--bad" role="alert" data-testid="failure">
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
    </section>
  );
}

/** The agent's last stop, start or destroy failed for good: why, and the same action again. */
function ActionFailurePanel({
  agentId,
  error,
  onOutcome,
}: {
  agentId: string;
  error: ActionError;
  onOutcome: (outcome: ActionOutcome) => void;
}) {
  const { pending, request } = useActionRequest(agentId, onOutcome);
  return (
    <section class="notice notice--bad" role="alert" data-testid="action-failure">
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
    </section>
  );
}
