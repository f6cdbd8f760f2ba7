import type { AgentView } from '../../../lambdas/domain/schemas.ts';
import { isCancelledProvisioning } from '../../../lambdas/domain/wording.ts';
import type { PageNotice } from '../notices.ts';
import { usePageHeading } from '../page.ts';
import { agentTabName, useTabIcon } from '../tab-status.ts';
import { agentStatusBadge, progressAnnouncement, queuedReason, stuckNoticeOf } from '../presentation.ts';
import { useLiveState, useNow } from '../services.ts';
import { AgentControls } from './agent-controls.tsx';
import { StatusBadge } from './badge.tsx';
import { BillingLine } from './billing-line.tsx';
import { ActionFailurePanel, FailurePanel } from './failure-panels.tsx';
import { Notice, type Notify, PageNotices } from './notice.tsx';
import { PayButton } from './pay-button.tsx';
import { HeartbeatAge, StepList } from './provisioning-steps.tsx';
import { useStepLogs } from './step-logs.tsx';
import { ReachAgent } from './reach-agent.tsx';
import { StateNotifications } from './state-notifications.tsx';
import { TimeLeft, useUsualDurations } from './usual-durations.tsx';

/**
 * Everything about one loaded agent: status, notices, what can be done with it, its steps and its server. The
 * passing notices (`notices`, notices.ts) are kept by the page, past the panels whose buttons made them.
 */
export function AgentDetails({
  view,
  notices,
  notify,
  staff,
}: {
  view: AgentView;
  notices: readonly PageNotice[];
  notify: Notify;
  staff: boolean;
}) {
  const provisioning = view.agentStatus === 'provisioning';
  // Time only moves on the page while the page knows what happens: off line, the steps' timers stop where it last did.
  const live = useLiveState().status === 'live';
  const now = useNow(provisioning && live);
  const failedStep = view.steps.find((step) => step.status === 'error');
  const badge = agentStatusBadge(view.agentStatus);
  const heading = usePageHeading(agentTabName(badge, view.name));
  useTabIcon(badge.tone);
  const stuck = provisioning ? stuckNoticeOf(view, now) : undefined;
  const logs = useStepLogs(view.agentId, view.jobId);
  const usual = useUsualDurations(view.agentId, provisioning);

  return (
    <article class="agent" data-testid="agent" data-seq={view.seq} aria-labelledby="agent-heading">
      <header class="agent__header">
        <h1 id="agent-heading" tabIndex={-1} ref={heading}>
          {view.name}
        </h1>
        <StatusBadge badge={agentStatusBadge(view.agentStatus)} testId="agent-status" />
        {stuck === undefined ? null : <StatusBadge badge={{ label: 'Stuck', icon: '⚠', tone: 'bad' }} />}
      </header>
      <p class="muted">
        Region {view.region} · Agent {view.agentId}
      </p>
      <BillingLine billing={view.billing} />
      <PageNotices notices={notices} />
      {stuck === undefined ? null : (
        <Notice tone="bad" role="status" testId="stuck">
          {stuck.text}. If it has not finished by{' '}
          <time dateTime={stuck.givenUpBy}>{new Date(stuck.givenUpBy).toLocaleTimeString()}</time>, it is stopped, what
          it set up is removed, and you can retry.
        </Notice>
      )}
      {/* Step changes, Running and failures, read out as they happen; what the steps show is the same. */}
      <p class="visually-hidden" role="status" aria-live="polite" data-testid="announcer">
        {progressAnnouncement(view)}
      </p>

      {view.paymentIssue === true ? (
        <Notice tone="bad" role="alert" testId="payment-issue">
          <span aria-hidden="true">⚠ </span>
          Your last payment did not go through. Please update your payment method so this agent keeps running.
        </Notice>
      ) : null}

      {view.subscriptionEndedAt !== undefined && view.agentStatus !== 'destroyed' ? (
        <Notice tone="bad" role="status" testId="subscription-ended">
          {view.agentStatus === 'draft'
            ? 'Subscription ended before this agent was provisioned: create a new agent to start again.'
            : 'Subscription ended: this agent will be removed.'}
        </Notice>
      ) : null}

      {view.failedExpiresAt !== undefined ? (
        <Notice tone="bad" role="status" testId="failed-expires">
          If you do not retry this agent by{' '}
          <time dateTime={view.failedExpiresAt}>
            {new Date(view.failedExpiresAt).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })}
          </time>
          , it will be removed and its subscription cancelled.
        </Notice>
      ) : null}

      {view.agentStatus === 'draft' && view.subscriptionEndedAt === undefined ? <PayButton view={view} /> : null}
      <AgentControls view={view} notify={notify} />

      {view.actionError === undefined ? null : (
        <ActionFailurePanel view={view} error={view.actionError} notify={notify} />
      )}

      {failedStep !== undefined && view.agentStatus === 'failed' ? (
        <FailurePanel view={view} step={failedStep} notify={notify} staff={staff} />
      ) : null}

      {view.agentStatus === 'destroyed' ? (
        <section class="card" data-testid="destroyed">
          <p>
            This agent was removed on{' '}
            <time dateTime={view.updatedAt}>
              {new Date(view.updatedAt).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })}
            </time>
            : its server is deleted and nothing more is billed for it.
          </p>
        </section>
      ) : null}
      {/* A draft has no provisioning yet, and a removed agent none any more: no checklist of steps for either. */}
      {view.agentStatus === 'draft' || view.agentStatus === 'destroyed' ? null : (
        <section aria-labelledby="steps-heading" class="card">
          <h2 id="steps-heading">Provisioning</h2>
          <StepList steps={view.steps} now={now} cancelled={isCancelledProvisioning(view)} logs={logs} usual={usual} />
          {provisioning && queuedReason(view, now) !== undefined ? (
            <p data-testid="queued-reason">{queuedReason(view, now)}</p>
          ) : null}
          {provisioning ? <TimeLeft steps={view.steps} usual={usual} now={now} /> : null}
          <StateNotifications view={view} />
          {provisioning ? <HeartbeatAge view={view} now={now} /> : null}
          {provisioning && !live ? (
            <p class="muted" data-testid="not-live">
              Not connected: times are as of <time dateTime={now.toISOString()}>{now.toLocaleTimeString()}</time>, and
              will catch up once reconnected.
            </p>
          ) : null}
          {view.workflowRunUrl === undefined ? null : (
            <p>
              <a href={view.workflowRunUrl} target="_blank" rel="noopener noreferrer" data-testid="workflow-run">
                View the workflow run logs
              </a>
            </p>
          )}
        </section>
      )}

      {view.agentStatus === 'active' && view.vm !== undefined ? (
        <section aria-labelledby="vm-heading" class="card">
          <h2 id="vm-heading">Server</h2>
          <dl class="details" data-testid="vm">
            <dt>Server IP</dt>
            <dd data-testid="server-ip">{view.vm.serverIp ?? '—'}</dd>
            <dt>Tailscale IP</dt>
            <dd data-testid="tailscale-ip">{view.vm.tailscaleIp ?? '—'}</dd>
          </dl>
          {view.vm.tailscaleIp === undefined ? null : <ReachAgent tailscaleIp={view.vm.tailscaleIp} />}
        </section>
      ) : null}
    </article>
  );
}
