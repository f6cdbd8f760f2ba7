import { describe, expect, it } from 'vitest';
import { agentView, callbackMessage, clientMessage, serverMessage } from '../../lambdas/domain/schemas.ts';
import { agentViewOf, newJob } from '../../lambdas/domain/job-events.ts';

describe('callback messages (contract examples)', () => {
  const valid = [
    {
      type: 'status',
      job_id: 'job_1',
      status: 'provisioning',
      workflow_run_id: '123',
      workflow_run_url: 'https://github.com/o/r/actions/runs/123',
    },
    { type: 'step', job_id: 'job_1', step: 'vm_created', server_id: '42', server_ip: '203.0.113.10' },
    {
      type: 'step',
      job_id: 'job_1',
      step: 'network_configured',
      tailscale_ip: '100.64.0.1',
      tailscale_device_id: 'n123',
    },
    { type: 'step', job_id: 'job_1', step: 'ansible_started', metadata: { used_snapshot: 'true', mode: 'full' } },
    { type: 'step', job_id: 'job_1', step: 'ansible_complete' },
    { type: 'heartbeat', job_id: 'job_1' },
    {
      type: 'status',
      job_id: 'job_1',
      status: 'running',
      server_id: '42',
      server_ip: '203.0.113.10',
      tailscale_ip: '100.64.0.1',
    },
    { type: 'status', job_id: 'job_1', status: 'failed', error: 'apt failed', failed_step: 'ansible_started' },
  ];
  it.each(valid)('accepts %j', (message) => {
    expect(callbackMessage.safeParse(message).success).toBe(true);
  });

  const invalid: [string, unknown][] = [
    ['unknown type', { type: 'progress', job_id: 'job_1' }],
    ['unknown step', { type: 'step', job_id: 'job_1', step: 'vm_deleted' }],
    ['unknown status', { type: 'status', job_id: 'job_1', status: 'paused' }],
    ['missing job id', { type: 'heartbeat' }],
    ['job id with a key separator', { type: 'heartbeat', job_id: 'JOB#x' }],
    ['server ip that is no ip', { type: 'step', job_id: 'j', step: 'vm_created', server_id: '1', server_ip: 'nope' }],
    ['nested metadata', { type: 'step', job_id: 'j', step: 'ansible_started', metadata: { a: { b: 'c' } } }],
    ['failed without a step', { type: 'status', job_id: 'j', status: 'failed', error: 'x' }],
    ['a number as job id', { type: 'heartbeat', job_id: 7 }],
    ['an array', [{ type: 'heartbeat', job_id: 'j' }]],
  ];
  it.each(invalid)('refuses %s', (_name, message) => {
    expect(callbackMessage.safeParse(message).success).toBe(false);
  });
});

describe('WebSocket messages', () => {
  it('accepts the client messages of the contract and refuses others', () => {
    expect(clientMessage.safeParse({ action: 'subscribe', agentId: 'agent_1', since: 4 }).success).toBe(true);
    expect(clientMessage.safeParse({ action: 'unsubscribe', agentId: 'agent_1' }).success).toBe(true);
    expect(clientMessage.safeParse({ action: 'ping' }).success).toBe(true);
    expect(clientMessage.safeParse({ action: 'subscribe', agentId: 'agent_1', since: -1 }).success).toBe(false);
    expect(clientMessage.safeParse({ action: 'broadcast' }).success).toBe(false);
  });

  it('describes what the domain produces: a view is a valid snapshot', () => {
    const job = newJob({ jobId: 'job_1', agentId: 'agent_1', userId: 'u', region: 'fsn1' }, '2026-01-01T00:00:00.000Z');
    const view = agentViewOf(
      {
        agentId: 'agent_1',
        userId: 'u',
        name: 'n',
        region: 'fsn1',
        agentStatus: 'provisioning',
        seq: 1,
        createdAt: job.createdAt,
        updatedAt: job.createdAt,
      },
      job,
    );
    expect(agentView.parse(view)).toEqual(view);
    expect(serverMessage.safeParse({ type: 'snapshot', ...view }).success).toBe(true);
    expect(
      serverMessage.safeParse({ type: 'heartbeat', agentId: 'agent_1', jobId: 'job_1', at: '2026-01-01T00:00:00.000Z' })
        .success,
    ).toBe(true);
  });
});
