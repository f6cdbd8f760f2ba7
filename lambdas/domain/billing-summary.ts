/**
 * What the owner is billed for an agent, in one line, on each status of its page (docs/ARCHITECTURE.md, I7, I8 and
 * "The stop decision"): computed from the agent as the one domain writer keeps it, so every view and update carries
 * it. Pure.
 */
import type { BillingHold } from './schemas.ts';
import type { AgentStatus } from './statuses.ts';

export const BILLING_STATES = [
  'not-billed',
  'billed',
  'billed-while-stopped',
  'payment-problem',
  'suspended',
  'refund-due',
  'refunded',
  'ended',
] as const;
export type BillingState = (typeof BILLING_STATES)[number];

export interface BillingSummary {
  readonly state: BillingState;
  /** One sentence for the owner. */
  readonly text: string;
  /** When Stripe next charges, while it does (monthly from the first payment). */
  readonly nextChargeAt?: string;
}

/** What the summary is computed from: fields of the agent record. */
export interface BilledAgentState {
  readonly agentStatus: AgentStatus;
  readonly subscriptionId?: string;
  readonly subscriptionEndedAt?: string;
  readonly paymentIssue?: boolean;
  readonly billingHold?: BillingHold;
  readonly everActiveAt?: string;
  readonly refundedAt?: string;
  /** When the first payment was made (the checkout's event): Stripe bills monthly from then. */
  readonly paidAt?: string;
  readonly updatedAt: string;
}

/**
 * The first monthly anniversary of `paidAt` after `after`: Stripe's default billing cycle anchors on the subscription's
 * start, each period one calendar month, a day past the month's end falling on its last day.
 */
export function nextMonthlyCharge(paidAt: string, after: string): string {
  const start = new Date(paidAt);
  for (let months = 1; ; months++) {
    const target = new Date(start);
    target.setUTCDate(1);
    target.setUTCMonth(start.getUTCMonth() + months);
    const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
    target.setUTCDate(Math.min(start.getUTCDate(), lastDay));
    if (target.toISOString() > after) return target.toISOString();
  }
}

const HOLD_TEXT: Readonly<Record<BillingHold, string>> = {
  unpaid: 'Suspended: unpaid. Pay the open invoice and the agent starts again.',
  'retries-exhausted': 'Suspended: unpaid. Pay the open invoice and the agent starts again.',
  paused: 'Suspended: the subscription is paused. It starts again when the subscription resumes.',
};

/** The billing line of `agent`'s page. */
export function billingSummaryOf(agent: BilledAgentState): BillingSummary {
  const neverRan = agent.everActiveAt === undefined;
  if (agent.refundedAt !== undefined)
    return { state: 'refunded', text: 'Refunded: this agent never ran, so every charge was refunded in full.' };
  if (agent.subscriptionId === undefined)
    return { state: 'not-billed', text: 'Not billed: nothing is charged until you pay.' };
  if (agent.agentStatus === 'destroyed')
    return { state: 'ended', text: 'Not billed: the subscription was cancelled when the agent was removed.' };
  if (neverRan && (agent.agentStatus === 'failed' || agent.agentStatus === 'destroying'))
    return {
      state: 'refund-due',
      text: 'Not billed after removal; you will be refunded, as this agent never ran.',
    };
  if (agent.subscriptionEndedAt !== undefined)
    return { state: 'ended', text: 'Not billed: the subscription has ended; the agent will be removed.' };
  if (agent.billingHold !== undefined) return { state: 'suspended', text: HOLD_TEXT[agent.billingHold] };
  const next = agent.paidAt === undefined ? {} : { nextChargeAt: nextMonthlyCharge(agent.paidAt, agent.updatedAt) };
  if (agent.paymentIssue === true)
    return {
      state: 'payment-problem',
      text: 'Payment problem: the last payment failed and Stripe is retrying it. Update your payment method to keep the agent running.',
      ...next,
    };
  if (agent.agentStatus === 'stopped' || agent.agentStatus === 'stopping')
    return {
      state: 'billed-while-stopped',
      text: 'Billed while stopped: a stopped agent keeps its server, which the host bills in full. Destroy it to stop paying.',
      ...next,
    };
  return { state: 'billed', text: 'Billed monthly.', ...next };
}
