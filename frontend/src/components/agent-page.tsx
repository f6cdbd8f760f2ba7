import { useEffect } from 'preact/hooks';
import type { CheckoutReturn } from '../router.ts';
import { useLiveState, useServices } from '../services.ts';
import { AgentDetails } from './agent-details.tsx';
import { AgentAuditTrail } from './audit-trail.tsx';
import { Notice } from './notice.tsx';

const CHECKOUT_OUTCOMES: Readonly<Record<CheckoutReturn['outcome'], string>> = {
  success: 'Payment received: your agent is being set up. You can follow every step here.',
  cancelled: 'Checkout was cancelled: nothing was charged and the agent stays a draft.',
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
  // The checkout notice matters until provisioning is over; then the steps tell the story.
  const settingUp = view === undefined || view.agentStatus === 'draft' || view.agentStatus === 'provisioning';
  return (
    <main class="page">
      <p>
        <a href="#/">← All agents</a>
      </p>
      {checkout === undefined || !settingUp ? null : (
        <Notice tone={checkout === 'success' ? 'good' : 'neutral'} role="status" testId="checkout-outcome">
          {CHECKOUT_OUTCOMES[checkout]}
        </Notice>
      )}
      {view !== undefined ? (
        <>
          <AgentDetails view={view} />
          {staff && <AgentAuditTrail agentId={agentId} seq={view.seq} />}
        </>
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
