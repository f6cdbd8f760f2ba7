import { describe, expect, it } from 'vitest';
import {
  AGENT_STATUSES,
  JOB_STATUSES,
  agentStatusesLeadingTo,
  canTransitionAgent,
  canTransitionJob,
  isTerminalJobStatus,
  type AgentStatus,
  type JobStatus,
} from '../../lambdas/domain/statuses.ts';

// The contract's status machines, written out edge by edge (docs/CONTRACT.md, "Statuses").
const AGENT_EDGES = new Set([
  'draft>provisioning',
  'provisioning>active',
  'provisioning>failed',
  'failed>provisioning',
  'active>stopping',
  'stopping>stopped',
  'stopped>starting',
  'starting>active',
  'active>destroying',
  'stopped>destroying',
  'failed>destroying',
  'destroying>destroyed',
]);
const JOB_EDGES = new Set(['queued>provisioning', 'provisioning>running', 'provisioning>failed', 'queued>failed']);

describe('agent status machine', () => {
  const pairs = AGENT_STATUSES.flatMap((from) => AGENT_STATUSES.map((to) => [from, to] as [AgentStatus, AgentStatus]));
  it.each(pairs)('%s -> %s follows the contract', (from, to) => {
    expect(canTransitionAgent(from, to)).toBe(AGENT_EDGES.has(`${from}>${to}`));
  });

  it('destroyed is final', () => {
    expect(AGENT_STATUSES.filter((to) => canTransitionAgent('destroyed', to))).toEqual([]);
  });

  it('lists the statuses a conditional write may start from', () => {
    expect(agentStatusesLeadingTo('provisioning').sort()).toEqual(['draft', 'failed']);
    expect(agentStatusesLeadingTo('destroying').sort()).toEqual(['active', 'failed', 'stopped']);
  });
});

describe('job status machine', () => {
  const pairs = JOB_STATUSES.flatMap((from) => JOB_STATUSES.map((to) => [from, to] as [JobStatus, JobStatus]));
  it.each(pairs)('%s -> %s follows the contract', (from, to) => {
    expect(canTransitionJob(from, to)).toBe(JOB_EDGES.has(`${from}>${to}`));
  });

  it('running and failed are terminal, queued and provisioning are not', () => {
    expect(JOB_STATUSES.filter(isTerminalJobStatus)).toEqual(['running', 'failed']);
  });
});
