import { useEffect } from 'preact/hooks';
import type { PageNotice } from '../notices.ts';
import { MAIN_ID, usePageHeading } from '../page.ts';
import type { CheckoutReturn } from '../router.ts';
import { useLiveState, useServices } from '../services.ts';
import { AgentDetails } from './agent-details.tsx';
import { AgentAuditTrail } from './audit-trail.tsx';
import { useNotices } from './notice.tsx';

/**
 * How a checkout ended, as a notice about the payment's own provisioning: shown while the agent is a draft or is
 * being set up by the first job the page sees, never again for a later attempt (a Retry) or status.
 */
const CHECKOUT_NOTICES: Readonly<Record<CheckoutReturn['outcome'], PageNotice>> = {
  success: {
    id: 'checkout',
    tone: 'good',
    text: 'Payment received: your agent is being set up. You can follow every step here.',
    about: { statuses: ['draft', 'provisioning'], jobId: 'first-seen' },
  },
  cancelled: {
    id: 'checkout',
    tone: 'neutral',
    text: 'Checkout was cancelled: nothing was charged and the agent stays a draft.',
    about: { statuses: ['draft'] },
  },
};

/** One agent, live: its provisioning steps, heartbeat, VM and what to do when it failed. */
export function AgentPage({
  agentId,
  checkout,
  staff = false,
}: {
  agentId: string;
  checkout?: CheckoutReturn['outcome'] | undefined;
  /** Operators and support also see who did what to the agent, when and why. */
  staff?: boolean;
}) {
  const { live } = useServices();
  const { agents, problems } = useLiveState();
  useEffect(() => live.watch(agentId), [live, agentId]);

  const view = agents.get(agentId);
  const missing = view === undefined && problems.has(agentId);
  const missingHeading = usePageHeading(missing ? 'Agent not found' : undefined);
  const { notices, notify } = useNotices(view, checkout === undefined ? [] : [CHECKOUT_NOTICES[checkout]]);
  return (
    <main class="page" id={MAIN_ID} tabIndex={-1}>
      <p>
        <a href="#/">← All agents</a>
      </p>
      {view !== undefined ? (
        <>
          <AgentDetails view={view} notices={notices} notify={notify} staff={staff} />
          {staff && <AgentAuditTrail agentId={agentId} seq={view.seq} />}
        </>
      ) : problems.has(agentId) ? (
        <section class="card" data-testid="agent-missing">
          <h1 tabIndex={-1} ref={missingHeading}>
            Agent not found
          </h1>
          <p>There is no agent with this id in your account.</p>
        </section>
      ) : (
        <p aria-busy="true">Loading…</p>
      )}
    </main>
  );
}
