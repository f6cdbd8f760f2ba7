/** How CheckRun decides whether a provisioning run's VM is activated, waited for or rolled back (lambdas/shared/run-outcome.ts). */
import { describe, expect, it } from 'vitest';
import { outcomeFromJob, outcomeOfSucceededRun, verdictOfRun } from '../../lambdas/shared/run-outcome.ts';

describe('outcomeFromJob', () => {
  it('activates with the final report that reached the job after the wait had ended, over what the steps recorded', () => {
    const job = {
      status: 'provisioning' as const,
      vm: { serverId: '1', tailscaleDeviceId: 'n1' },
      outcome: {
        status: 'running' as const,
        vm: { serverId: '1', serverIp: '203.0.113.1', tailscaleIp: '100.64.0.1' },
      },
    };
    expect(outcomeFromJob(job)).toMatchObject({
      verdict: 'succeeded',
      vm: { serverId: '1', serverIp: '203.0.113.1', tailscaleIp: '100.64.0.1', tailscaleDeviceId: 'n1' },
    });
  });

  it('rolls back a reported failure or a failed job, keeps a running one, and asks GitHub about the rest', () => {
    const failure = { status: 'failed' as const, error: 'x', failedStep: 'vm_created' };
    expect(outcomeFromJob({ status: 'provisioning', vm: {}, outcome: failure })?.verdict).toBe('failed');
    expect(outcomeFromJob({ status: 'failed', vm: {} })?.verdict).toBe('failed');
    expect(outcomeFromJob({ status: 'running', vm: { serverId: '7' } })).toMatchObject({
      verdict: 'succeeded',
      vm: { serverId: '7' },
    });
    expect(outcomeFromJob({ status: 'provisioning', vm: {} })).toBeUndefined();
    expect(outcomeFromJob({ status: 'queued', vm: {} })).toBeUndefined();
  });
});

describe('verdictOfRun', () => {
  it.each([
    [{ status: 'completed', conclusion: 'success' }, 'succeeded'],
    [{ status: 'in_progress', conclusion: null }, 'in_progress'],
    [{ status: 'completed', conclusion: 'failure' }, 'failed'],
    [{ status: 'completed', conclusion: 'cancelled' }, 'failed'],
    [{ status: 'completed', conclusion: 'timed_out' }, 'failed'],
    // Not started when the state machine stopped waiting: cancelled by the rollback, as before.
    [{ status: 'queued', conclusion: null }, 'failed'],
    [{ status: 'waiting', conclusion: null }, 'failed'],
    [undefined, 'failed'],
  ])('%j -> %s', (run, verdict) => {
    expect(verdictOfRun(run).verdict).toBe(verdict);
  });
});

describe('outcomeOfSucceededRun', () => {
  const servers = [
    { id: '10', labels: { job_id: 'j' }, ipv4: '203.0.113.10' },
    { id: '11', labels: { job_id: 'j' }, ipv4: '203.0.113.11' },
  ];

  it('takes the server the callbacks named among the labelled ones, and the device Tailscale knows', () => {
    expect(outcomeOfSucceededRun({ serverId: '11' }, servers, { deviceId: 'nABC', tailscaleIp: '100.64.0.9' })).toEqual(
      {
        verdict: 'succeeded',
        vm: { serverId: '11', serverIp: '203.0.113.11', tailscaleDeviceId: 'nABC', tailscaleIp: '100.64.0.9' },
        reason: expect.any(String),
      },
    );
    expect(outcomeOfSucceededRun({}, servers, undefined).vm).toEqual({ serverId: '10', serverIp: '203.0.113.10' });
  });

  it('rolls back a run that succeeded without a labelled server: nothing came up', () => {
    expect(outcomeOfSucceededRun({ serverId: '10' }, [], { deviceId: 'n' })).toMatchObject({
      verdict: 'failed',
      vm: {},
    });
  });
});
