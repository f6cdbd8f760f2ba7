/**
 * What the model tests read back after a run: every agent of the run as the table holds it, and what the outside
 * world holds for them (the Stripe fake's subscriptions, the Hetzner fake's servers, the Tailscale fake's devices). The
 * invariants (docs/ARCHITECTURE.md, "Invariants") are checked on this snapshot by `violations`, a pure function.
 */
import type { AgentStatus } from '../../lambdas/domain/statuses.ts';

export interface AgentSnapshot {
  readonly agentId: string;
  readonly agentStatus: AgentStatus;
  readonly subscriptionId?: string;
  readonly serverId?: string;
  /** When the Stripe subscription ended (as the table recorded it). */
  readonly subscriptionEndedAt?: string;
  /** When it first became active (I7): absent while it never ran. */
  readonly everActiveAt?: string;
  /** Stopped because its subscription did not pay for it (I8). */
  readonly suspendedAt?: string;
}

/** One paid payment of one of the run's invoices, with the amounts refunded of it. */
export interface PaymentSnapshot {
  readonly subscriptionId: string;
  readonly paymentIntent: string;
  readonly amountPaid: number;
  readonly refunds: readonly number[];
}

export interface SubscriptionSnapshot {
  readonly id: string;
  readonly status: string;
  readonly agentId: string | undefined;
}

export interface ServerSnapshot {
  readonly id: number;
  readonly status: string;
  readonly agentId: string | undefined;
}

export interface DeviceSnapshot {
  readonly hostname: string;
  /** The job the device joined for (from its hostname). */
  readonly jobId: string;
}

export interface WorldSnapshot {
  readonly agents: readonly AgentSnapshot[];
  /** The jobs of the run's agents, by job id, with their agent. */
  readonly jobAgents: ReadonlyMap<string, string>;
  readonly subscriptions: readonly SubscriptionSnapshot[];
  /** Subscriptions Stripe itself ended during the run (a cancellation in the portal, unpaid invoices). */
  readonly endedByStripe: ReadonlySet<string>;
  readonly servers: readonly ServerSnapshot[];
  readonly devices: readonly DeviceSnapshot[];
  /** Every paid payment of the run's subscriptions. */
  readonly payments: readonly PaymentSnapshot[];
}

/** Stripe's statuses of a subscription that bills the customer. */
const BILLED = new Set(['active', 'past_due']);
/** Stripe's statuses of a subscription that does not pay for its agent to run (I8). */
const UNPAID = new Set(['unpaid', 'paused']);
/** Agent statuses a customer may be billed for (I1). */
const BILLABLE: ReadonlySet<AgentStatus> = new Set([
  'provisioning',
  'active',
  'stopping',
  'stopped',
  'starting',
  'destroying',
  'failed',
]);
/** Agent statuses that may own a server or a tailnet device (I6). */
const HOLDS_A_VM: ReadonlySet<AgentStatus> = new Set([
  'provisioning',
  'active',
  'stopping',
  'stopped',
  'starting',
  'destroying',
]);
/** Statuses that something must drive on (I3): none may remain once the run has settled. */
export const TRANSITIONAL: ReadonlySet<AgentStatus> = new Set(['provisioning', 'stopping', 'starting', 'destroying']);

/** Every invariant the snapshot breaks, one line each (empty when all hold). */
export function violations(world: WorldSnapshot): string[] {
  const found: string[] = [];
  const agents = new Map(world.agents.map((agent) => [agent.agentId, agent]));
  const billed = world.subscriptions.filter((subscription) => BILLED.has(subscription.status));

  for (const subscription of billed) {
    const agent = subscription.agentId === undefined ? undefined : agents.get(subscription.agentId);
    if (agent === undefined) found.push(`I1: subscription ${subscription.id} is billed for no agent of the run`);
    else if (!BILLABLE.has(agent.agentStatus)) {
      found.push(
        `I1: subscription ${subscription.id} is billed for agent ${agent.agentId}, which is ${agent.agentStatus}`,
      );
    }
  }
  for (const agent of world.agents) {
    const mine = billed.filter((subscription) => subscription.agentId === agent.agentId);
    if (mine.length > 1)
      found.push(
        `I2: agent ${agent.agentId} has ${mine.length} billed subscriptions (${mine.map((s) => s.id).join(', ')})`,
      );
    if (TRANSITIONAL.has(agent.agentStatus))
      found.push(`I3: agent ${agent.agentId} is still ${agent.agentStatus} after the run settled`);
    if (
      agent.agentStatus === 'active' &&
      !world.servers.some((server) => server.agentId === agent.agentId && server.status !== 'deleting')
    ) {
      found.push(`I6: agent ${agent.agentId} is active without a server`);
    }
  }
  for (const subscriptionId of world.endedByStripe) {
    const subscription = world.subscriptions.find((candidate) => candidate.id === subscriptionId);
    const agent = subscription?.agentId === undefined ? undefined : agents.get(subscription.agentId);
    // An end that reached the pipeline before its checkout (the checkout's delivery failed and Stripe retried it
    // later) provisions nothing: the agent stays a draft that keeps the end, and nothing runs or bills (I5).
    const endedFirst = agent?.agentStatus === 'draft' && agent.subscriptionEndedAt !== undefined;
    if (agent !== undefined && agent.agentStatus !== 'destroyed' && !endedFirst) {
      found.push(`I5: subscription ${subscriptionId} ended, yet agent ${agent.agentId} is ${agent.agentStatus}`);
    }
  }
  for (const payment of world.payments) {
    if (payment.refunds.length > 1)
      found.push(`I7: payment ${payment.paymentIntent} was refunded ${payment.refunds.length} times`);
  }
  for (const agent of world.agents) {
    const mine = world.payments.filter((payment) => payment.subscriptionId === agent.subscriptionId);
    if (agent.agentStatus === 'destroyed' && agent.everActiveAt === undefined) {
      for (const payment of mine.filter(
        (each) => each.refunds.reduce((sum, amount) => sum + amount, 0) !== each.amountPaid,
      ))
        found.push(
          `I7: agent ${agent.agentId} never ran, yet payment ${payment.paymentIntent} is not refunded in full`,
        );
    }
    if (agent.everActiveAt !== undefined) {
      for (const payment of mine.filter((each) => each.refunds.length > 0))
        found.push(`I7: agent ${agent.agentId} ran, yet payment ${payment.paymentIntent} was refunded`);
    }
    const subscription = world.subscriptions.find((candidate) => candidate.id === agent.subscriptionId);
    if (agent.agentStatus === 'active' && subscription !== undefined && UNPAID.has(subscription.status))
      found.push(`I8: agent ${agent.agentId} is active while its subscription is ${subscription.status}`);
    if (
      agent.agentStatus === 'stopped' &&
      agent.suspendedAt !== undefined &&
      agent.subscriptionEndedAt === undefined &&
      subscription?.status === 'active'
    )
      found.push(`I8: agent ${agent.agentId} is still suspended though its subscription is paid again`);
  }
  for (const server of world.servers) {
    const agent = server.agentId === undefined ? undefined : agents.get(server.agentId);
    if (agent !== undefined && !HOLDS_A_VM.has(agent.agentStatus)) {
      found.push(`I6: server ${server.id} is left for agent ${agent.agentId}, which is ${agent.agentStatus}`);
    }
  }
  for (const device of world.devices) {
    const agentId = world.jobAgents.get(device.jobId);
    const agent = agentId === undefined ? undefined : agents.get(agentId);
    if (agent !== undefined && !HOLDS_A_VM.has(agent.agentStatus)) {
      found.push(
        `I6: tailnet device ${device.hostname} is left for agent ${agent.agentId}, which is ${agent.agentStatus}`,
      );
    }
  }
  return found;
}
