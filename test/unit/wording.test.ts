/**
 * The customer's words for a failed or cancelled provisioning (lambdas/domain/wording.ts), and that every view a
 * customer receives carries them instead of the job's staff-side error, while operators and support keep the error.
 */
import { describe, expect, it } from 'vitest';
import { shownTo } from '../../lambdas/domain/access.ts';
import { agentViewOf, applyJobEvent, newJob, type AgentState } from '../../lambdas/domain/job-events.ts';
import type { AgentView } from '../../lambdas/domain/schemas.ts';
import { failureWordsOf, inCustomerWords } from '../../lambdas/domain/wording.ts';

const AT = '2026-12-08T00:00:00.000Z';
const agent: AgentState = {
  agentId: 'agent_1',
  userId: 'owner',
  name: 'Helper',
  region: 'fsn1',
  agentStatus: 'failed',
  seq: 3,
  currentJobId: 'job_1',
  createdAt: AT,
  updatedAt: AT,
};

function failedView(event: Parameters<typeof applyJobEvent>[1]): AgentView {
  const outcome = applyJobEvent(
    newJob({ jobId: 'job_1', agentId: 'agent_1', userId: 'owner', region: 'fsn1' }, AT),
    event,
    AT,
  );
  if (outcome.kind !== 'changed') throw new Error('expected a change');
  return agentViewOf(agent, outcome.job);
}

describe('failure words', () => {
  it("tells the owner a cancel is a cancel, without the operator's id or note", () => {
    const view = failedView({ kind: 'cancelled', actor: 'operator:op-7', reason: 'ticket 12: fraud check' });
    expect(view.error).toContain('operator:op-7');

    const shown = shownTo('customer', view);
    const text = JSON.stringify(shown);
    expect(text).not.toContain('op-7');
    expect(text).not.toContain('fraud');
    expect(failureWordsOf(shown)?.title).toBe('Provisioning cancelled');
    expect(shown.error).toBe(failureWordsOf(view)?.detail);
    expect(shown.steps.find((step) => step.status === 'error')).toMatchObject({ key: 'queued', error: shown.error });
    expect(shown.steps.find((step) => step.status === 'error')?.failedStep).toBeUndefined();
  });

  it("words a workflow's failure by its step, and keeps the workflow's message for staff", () => {
    const view = failedView({ kind: 'failed', error: 'hcloud: 503 from 203.0.113.7', failedStep: 'vm_created' });
    const shown = shownTo('customer', view);
    expect(failureWordsOf(view)?.title).toBe('Failed at Queued');
    expect(shown.error).toMatch(/^The setup could not start\./);
    expect(JSON.stringify(shown)).not.toContain('hcloud');
    expect(shownTo('operator', view)).toBe(view);
    expect(shownTo('support', view).error).toContain('hcloud');
  });

  it('leaves views without a failure, and anything that is not a view, as they are', () => {
    const active = agentViewOf({ ...agent, agentStatus: 'active' }, undefined);
    expect(inCustomerWords(active)).toBe(active);
    const pong = { type: 'pong' };
    expect(inCustomerWords(pong)).toBe(pong);
  });

  it('says an agent whose provisioning was cancelled is being removed once it is destroying', () => {
    const view = { ...failedView({ kind: 'cancelled', actor: 'user:owner', reason: 'changed my mind' }) };
    expect(failureWordsOf({ ...view, agentStatus: 'destroying' })?.detail).toMatch(/being removed/);
  });
});
