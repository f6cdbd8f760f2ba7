import { describe, expect, it } from 'vitest';
import {
  agentViewOf,
  applyJobEvent,
  newJob,
  type AgentState,
  type JobEvent,
  type JobState,
} from '../../lambdas/domain/job-events.ts';
import { CANCELLED_STEP } from '../../lambdas/domain/steps.ts';

const T0 = '2026-01-01T00:00:00.000Z';
const base = () => newJob({ jobId: 'job_1', agentId: 'agent_1', userId: 'user_1', region: 'fsn1' }, T0);

function run(job: JobState, ...events: JobEvent[]): JobState {
  return events.reduce((current, event, index) => {
    const outcome = applyJobEvent(current, event, `2026-01-01T00:0${index + 1}:00.000Z`);
    if (outcome.kind !== 'changed') throw new Error(`event ${index} was ${outcome.reason}`);
    return outcome.job;
  }, job);
}

const provisioning: JobEvent = {
  kind: 'provisioning',
  workflowRunId: '42',
  workflowRunUrl: 'https://github.com/o/r/actions/runs/42',
};
const vmCreated: JobEvent = { kind: 'step', step: 'vm_created', vm: { serverId: '7', serverIp: '203.0.113.7' } };
const network: JobEvent = {
  kind: 'step',
  step: 'network_configured',
  vm: { tailscaleIp: '100.64.0.7', tailscaleDeviceId: 'd7' },
};

describe('applyJobEvent', () => {
  it('starts queued with the Queued step active', () => {
    expect(base()).toMatchObject({ status: 'queued', currentStep: 'queued', progress: 0 });
  });

  it('walks the happy path to running and keeps the VM details and run link', () => {
    const job = run(
      base(),
      provisioning,
      vmCreated,
      network,
      { kind: 'step', step: 'ansible_started' },
      { kind: 'step', step: 'ansible_complete' },
    );
    expect(job).toMatchObject({ status: 'provisioning', currentStep: 'configuring', workflowRunId: '42' });
    const outcome = applyJobEvent(
      job,
      { kind: 'activated', vm: { serverId: '7', serverIp: '203.0.113.7', tailscaleIp: '100.64.0.7' } },
      T0,
    );
    expect(outcome).toMatchObject({
      kind: 'changed',
      agentStatus: 'active',
      job: { status: 'running', currentStep: null },
    });
    if (outcome.kind === 'changed') {
      expect(outcome.job.vm).toEqual({
        serverId: '7',
        serverIp: '203.0.113.7',
        tailscaleIp: '100.64.0.7',
        tailscaleDeviceId: 'd7',
      });
      expect(outcome.job.steps.every((step) => step.status === 'completed')).toBe(true);
    }
  });

  it('ignores a duplicate step', () => {
    expect(applyJobEvent(run(base(), provisioning, vmCreated), vmCreated, T0)).toEqual({
      kind: 'ignored',
      reason: 'duplicate',
    });
  });

  it('ignores a step older than the current one', () => {
    expect(applyJobEvent(run(base(), provisioning, network), vmCreated, T0)).toEqual({
      kind: 'ignored',
      reason: 'stale',
    });
  });

  it('accepts a step whose predecessor was lost, completing the steps before it', () => {
    const job = run(base(), network);
    expect(job.status).toBe('provisioning');
    expect(job.steps.slice(0, 3).map((step) => step.status)).toEqual(['completed', 'completed', 'completed']);
  });

  it('refuses activation of a job the workflow never started', () => {
    expect(applyJobEvent(base(), { kind: 'activated', vm: {} }, T0)).toEqual({ kind: 'ignored', reason: 'stale' });
  });

  it('fails from queued or provisioning, marking the active step', () => {
    const failed = applyJobEvent(
      run(base(), provisioning, vmCreated),
      { kind: 'failed', error: 'boom', failedStep: 'network_configured' },
      T0,
    );
    expect(failed).toMatchObject({
      kind: 'changed',
      agentStatus: 'failed',
      job: { status: 'failed', error: 'boom', currentStep: 'networking' },
    });
    expect(applyJobEvent(base(), { kind: 'failed', error: 'dispatch refused' }, T0)).toMatchObject({
      job: { status: 'failed', currentStep: 'queued' },
    });
  });

  it('cancels a live job for an operator: failed with who and why, at the active step, the reason kept for the history', () => {
    const cancel: JobEvent = { kind: 'cancelled', actor: 'operator:op-1', reason: 'ticket 42: wrong region' };
    expect(applyJobEvent(run(base(), provisioning, vmCreated), cancel, T0)).toMatchObject({
      kind: 'changed',
      agentStatus: 'failed',
      event: 'cancelled',
      reason: 'ticket 42: wrong region',
      job: {
        status: 'failed',
        error: 'cancelled by operator:op-1: ticket 42: wrong region',
        failedStep: CANCELLED_STEP,
        currentStep: 'networking',
      },
    });
    expect(applyJobEvent(base(), cancel, T0)).toMatchObject({ kind: 'changed', job: { currentStep: 'queued' } });
    // Nothing to cancel once the job has ended; a late callback of a cancelled run changes nothing either.
    const active = run(base(), provisioning, { kind: 'activated', vm: {} });
    expect(applyJobEvent(active, cancel, T0)).toEqual({ kind: 'ignored', reason: 'terminal' });
    const cancelled = run(base(), provisioning, cancel);
    expect(applyJobEvent(cancelled, cancel, T0)).toEqual({ kind: 'ignored', reason: 'duplicate' });
    expect(applyJobEvent(cancelled, vmCreated, T0)).toEqual({ kind: 'ignored', reason: 'terminal' });
    expect(applyJobEvent(cancelled, { kind: 'activated', vm: {} }, T0)).toEqual({
      kind: 'ignored',
      reason: 'terminal',
    });
  });

  it('links a queued job to the run its dispatch created, once, without moving it on', () => {
    const dispatched: JobEvent = {
      kind: 'dispatched',
      workflowRunId: '42',
      workflowRunUrl: 'https://github.com/o/r/actions/runs/42',
    };
    const outcome = applyJobEvent(base(), dispatched, T0);
    expect(outcome).toMatchObject({
      kind: 'changed',
      event: 'dispatched',
      job: { status: 'queued', currentStep: 'queued', progress: 0, workflowRunId: '42' },
    });
    if (outcome.kind === 'changed') {
      expect(outcome).not.toHaveProperty('agentStatus');
      const agent: AgentState = {
        agentId: 'agent_1',
        userId: 'user_1',
        name: 'a',
        region: 'fsn1',
        agentStatus: 'provisioning',
        seq: 1,
        createdAt: T0,
        updatedAt: T0,
      };
      expect(agentViewOf(agent, outcome.job).workflowRunUrl).toBe('https://github.com/o/r/actions/runs/42');
      // Known once: a second answer, or one after the workflow reported itself, changes nothing.
      expect(applyJobEvent(outcome.job, { ...dispatched, workflowRunId: '43' }, T0)).toEqual({
        kind: 'ignored',
        reason: 'duplicate',
      });
      // The workflow's own `provisioning` still moves the job on.
      expect(run(outcome.job, provisioning)).toMatchObject({ status: 'provisioning', workflowRunId: '42' });
    }
    expect(applyJobEvent(run(base(), provisioning), dispatched, T0)).toEqual({ kind: 'ignored', reason: 'duplicate' });
    expect(applyJobEvent(run(base(), { kind: 'failed', error: 'boom' }), dispatched, T0)).toEqual({
      kind: 'ignored',
      reason: 'terminal',
    });
  });

  it('changes nothing once a job is finished', () => {
    const failed = run(base(), provisioning, { kind: 'failed', error: 'boom' });
    expect(applyJobEvent(failed, vmCreated, T0)).toEqual({ kind: 'ignored', reason: 'terminal' });
    expect(applyJobEvent(failed, { kind: 'failed', error: 'again' }, T0)).toEqual({
      kind: 'ignored',
      reason: 'duplicate',
    });
    const running = run(base(), provisioning, { kind: 'activated', vm: {} });
    expect(applyJobEvent(running, { kind: 'failed', error: 'late' }, T0)).toEqual({
      kind: 'ignored',
      reason: 'terminal',
    });
  });
});

describe('agentViewOf', () => {
  const agent: AgentState = {
    agentId: 'agent_1',
    userId: 'user_1',
    name: 'a',
    region: 'fsn1',
    agentStatus: 'provisioning',
    seq: 3,
    createdAt: T0,
    updatedAt: T0,
    paymentIssue: true,
  };

  it('combines agent and job into the contract view', () => {
    const job = run(base(), provisioning, vmCreated);
    const view = agentViewOf(agent, job);
    expect(view).toMatchObject({
      agentId: 'agent_1',
      agentStatus: 'provisioning',
      jobId: 'job_1',
      seq: 3,
      status: 'provisioning',
      currentStep: 'networking',
      vm: { serverId: '7' },
      paymentIssue: true,
      workflowRunUrl: 'https://github.com/o/r/actions/runs/42',
    });
    expect(view.updatedAt).toBe(job.updatedAt);
  });

  it('shows six pending steps for an agent that has no job yet', () => {
    const view = agentViewOf({ ...agent, agentStatus: 'draft', seq: 0 }, undefined);
    expect(view).toMatchObject({ jobId: null, status: null, currentStep: null });
    expect(view.steps.map((step) => step.status)).toEqual(Array(6).fill('pending'));
  });

  it("carries the failure of the agent's last action, and nothing when there is none", () => {
    const actionError = { action: 'stop', message: 'Hetzner is down', at: T0 } as const;
    expect(agentViewOf({ ...agent, agentStatus: 'active', actionError }, undefined).actionError).toEqual(actionError);
    expect(agentViewOf({ ...agent, agentStatus: 'active' }, undefined)).not.toHaveProperty('actionError');
  });
});
