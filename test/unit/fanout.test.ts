import { marshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue, DynamoDBRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { agentViewOf, newJob, type AgentState } from '../../lambdas/domain/job-events.ts';
import { messageOf } from '../../lambdas/fanout/messages.ts';

const at = '2026-11-02T10:00:00.000Z';
const agent: AgentState = {
  agentId: 'agent_1',
  userId: 'user-1',
  name: 'Helper',
  region: 'fsn1',
  agentStatus: 'provisioning',
  seq: 1,
  currentJobId: 'job_1',
  createdAt: at,
  updatedAt: at,
};
const job = newJob({ jobId: 'job_1', agentId: 'agent_1', userId: 'user-1', region: 'fsn1' }, at);
const update = { type: 'update' as const, ...agentViewOf(agent, job) };

type Image = Record<string, unknown>;

function record(
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE',
  images: { newImage?: Image; oldImage?: Image },
): DynamoDBRecord {
  const image = (item: Image | undefined) =>
    item === undefined
      ? undefined
      : (marshall(item, { convertClassInstanceToMap: true }) as Record<string, AttributeValue>);
  return {
    eventName,
    dynamodb: { NewImage: image(images.newImage), OldImage: image(images.oldImage), SequenceNumber: '1' },
  };
}

const historyItem = {
  PK: 'AGENT#agent_1',
  SK: 'SEQ#000000000001',
  entity: 'history',
  event: 'created',
  actor: 'stripe',
  ...update,
};
const jobItem = { PK: 'JOB#job_1', SK: 'JOB', entity: 'job', ...job };

describe('messageOf', () => {
  it('turns a new history item into the update it holds, without keys, event or actor, and its fleet summary', () => {
    expect(messageOf(record('INSERT', { newImage: { ...historyItem, reason: 'why' } }))).toEqual({
      agentId: 'agent_1',
      channel: 'state',
      message: update,
      fleet: {
        type: 'fleet',
        agentId: 'agent_1',
        name: update.name,
        region: 'fsn1',
        agentStatus: update.agentStatus,
        jobId: 'job_1',
        status: 'queued',
        currentStep: 'queued',
        seq: update.seq,
        event: 'created',
        updatedAt: update.updatedAt,
      },
    });
  });

  it('turns a job whose lastHeartbeatAt moved into a heartbeat', () => {
    const before = { ...jobItem, lastHeartbeatAt: at };
    const after = { ...jobItem, lastHeartbeatAt: '2026-11-02T10:01:00.000Z' };
    expect(messageOf(record('MODIFY', { oldImage: before, newImage: after }))).toEqual({
      agentId: 'agent_1',
      channel: 'state',
      message: { type: 'heartbeat', agentId: 'agent_1', jobId: 'job_1', at: '2026-11-02T10:01:00.000Z' },
    });
  });

  it('sends the first heartbeat of a job too', () => {
    const after = { ...jobItem, lastHeartbeatAt: at };
    expect(messageOf(record('MODIFY', { oldImage: jobItem, newImage: after }))?.message).toMatchObject({
      type: 'heartbeat',
      at,
    });
  });

  it('refuses a heartbeat of a job item that does not say whose it is', () => {
    const { agentId: _agentId, ...orphan } = { ...jobItem, lastHeartbeatAt: at };
    expect(() => messageOf(record('MODIFY', { oldImage: jobItem, newImage: orphan }))).toThrow(/agentId/);
  });

  it('ignores job changes that are not heartbeats: people see those through history', () => {
    const before = { ...jobItem, lastHeartbeatAt: at };
    const after = { ...before, status: 'provisioning', taskToken: 'secret-token' };
    expect(messageOf(record('MODIFY', { oldImage: before, newImage: after }))).toBeUndefined();
  });

  it('turns a new batch of log lines into a logs message on a channel of its own, without keys or bookkeeping', () => {
    const batch = {
      agentId: 'agent_1',
      jobId: 'job_1',
      batch: 3,
      step: 'vm_created',
      uiStep: 'creating',
      lines: [{ at, text: 'Server 42 is running' }],
    };
    const item = { PK: 'LOGS#job_1', SK: 'BATCH#0000003', entity: 'log-batch', receivedAt: at, expiresAt: 1, ...batch };
    expect(messageOf(record('INSERT', { newImage: item }))).toEqual({
      agentId: 'agent_1',
      channel: 'logs',
      message: { type: 'logs', ...batch },
    });
  });

  it.each([
    ["a job's log totals", record('MODIFY', { newImage: { PK: 'LOGS#job_1', SK: 'TOTAL', entity: 'log-totals' } })],
    ['a new job', record('INSERT', { newImage: jobItem })],
    ['an agent change', record('MODIFY', { oldImage: { entity: 'agent' }, newImage: { entity: 'agent', seq: 2 } })],
    ['a new connection', record('INSERT', { newImage: { PK: 'CONN#c1', SK: 'CONN', entity: 'connection' } })],
    ['a history item modified', record('MODIFY', { oldImage: historyItem, newImage: historyItem })],
    ['a deletion (TTL)', record('REMOVE', { oldImage: historyItem })],
  ])('ignores %s', (_name, streamRecord) => {
    expect(messageOf(streamRecord)).toBeUndefined();
  });
});
