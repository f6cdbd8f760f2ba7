import { describe, expect, it } from 'vitest';
import {
  actorOf,
  isStaff,
  mayAct,
  mayDeleteDraft,
  mayPayFor,
  maySee,
  offeredActions,
  reasonRequired,
  redact,
  REDACTED_TEXT,
  roleOf,
  shownTo,
  type Caller,
} from '../../lambdas/domain/access.ts';

const owner: Caller = { userId: 'owner', role: 'customer' };
const stranger: Caller = { userId: 'stranger', role: 'customer' };
const operator: Caller = { userId: 'op', role: 'operator' };
const support: Caller = { userId: 'help', role: 'support' };
const agent = { userId: 'owner' };

describe('roleOf', () => {
  it.each([
    [undefined, 'customer'],
    [[], 'customer'],
    [['admins'], 'customer'],
    [['support'], 'support'],
    [['operators'], 'operator'],
    [['support', 'operators'], 'operator'],
    [['Operators'], 'customer'],
  ] as const)('%j -> %s', (groups, role) => {
    expect(roleOf(groups)).toBe(role);
  });
});

describe('who may see, act, pay and delete a draft', () => {
  it.each([
    ['the owner', owner, { see: true, act: true, pay: true, deleteDraft: true, staff: false }],
    ['another customer', stranger, { see: false, act: false, pay: false, deleteDraft: false, staff: false }],
    ['an operator', operator, { see: true, act: true, pay: false, deleteDraft: false, staff: true }],
    ['support', support, { see: true, act: false, pay: false, deleteDraft: false, staff: true }],
  ] as const)('%s', (_, caller, expected) => {
    expect({
      see: maySee(caller, agent),
      act: mayAct(caller, agent),
      pay: mayPayFor(caller, agent),
      deleteDraft: mayDeleteDraft(caller, agent),
      staff: isStaff(caller),
    }).toEqual(expected);
  });

  it('lets an operator delete their own draft, never support (read only), even its own', () => {
    expect(mayDeleteDraft(operator, { userId: operator.userId })).toBe(true);
    expect(mayDeleteDraft(support, { userId: support.userId })).toBe(false);
  });

  it('offers each viewer exactly the actions the API would accept from them now', () => {
    const live = {
      ...agent,
      agentStatus: 'provisioning',
      currentJobId: 'job_1',
      job: { jobId: 'job_1', status: 'queued' },
    } as const;
    const failed = {
      ...agent,
      agentStatus: 'failed',
      currentJobId: 'job_1',
      job: { jobId: 'job_1', status: 'failed' },
    } as const;
    const active = {
      ...agent,
      agentStatus: 'active',
      currentJobId: 'job_1',
      job: { jobId: 'job_1', status: 'running' },
    } as const;
    // The owner and operators cancel a live provisioning; support never acts, whatever the agent's state.
    expect([owner, stranger, operator, support].map((caller) => offeredActions(caller, live))).toEqual([
      ['cancel'],
      [],
      ['cancel'],
      [],
    ]);
    expect(offeredActions(owner, failed)).toEqual(['retry', 'destroy']);
    expect(offeredActions(support, failed)).toEqual([]);
    expect(offeredActions(operator, active)).toEqual(['stop', 'destroy']);
    expect(offeredActions(owner, { ...active, agentStatus: 'destroyed' })).toEqual([]);
    // A failed destroy may be asked for again, and nothing else.
    const destroyFailed = {
      ...active,
      agentStatus: 'destroying',
      actionError: { action: 'destroy', message: 'x', at: '2026-12-08T00:00:00.000Z' },
    } as const;
    expect(offeredActions(owner, destroyFailed)).toEqual(['destroy']);
  });

  it('support may not act even on an agent of its own', () => {
    expect(mayAct(support, { userId: support.userId })).toBe(false);
  });

  it('asks operators, and only them, for a reason, and names them as operators in the history', () => {
    expect([owner, operator, support].map(reasonRequired)).toEqual([false, true, false]);
    expect(actorOf(operator)).toBe('operator:op');
    expect(actorOf(owner)).toBe('user:owner');
  });
});

describe('redact', () => {
  const view = {
    agentId: 'agent_1',
    userId: 'owner',
    email: 'ada@example.com',
    customerId: 'cus_Q1w2e3r4t5',
    subscriptionId: 'sub_1A2b3C4d5E',
    refundedSubscriptionIds: ['sub_9Z8y7X6w5V'],
    vm: { serverId: '4711', serverIp: '203.0.113.7', tailscaleIp: 'fd7a:115c:a1e0::53', tailscaleDeviceId: 'n123' },
    steps: [
      { key: 'networking', status: 'error', error: 'ssh root@203.0.113.7 failed at 12:30:45 for ada@example.com' },
    ],
    error: 'tailscale up failed on fd7a:115c:a1e0::53 (invoice in_1Nq2W3e4R5t6 of cus_Q1w2e3r4t5)',
    currentStep: 'in_progress_marker',
    updatedAt: '2026-12-04T23:53:04.123Z',
  };

  it('removes identifying fields at any depth and masks addresses, e-mails and Stripe ids in text', () => {
    const shown = redact(view);
    expect(shown).toEqual({
      agentId: 'agent_1',
      userId: 'owner',
      vm: { serverId: '4711', tailscaleDeviceId: 'n123' },
      steps: [
        {
          key: 'networking',
          status: 'error',
          error: `ssh root@${REDACTED_TEXT} failed at 12:30:45 for ${REDACTED_TEXT}`,
        },
      ],
      error: `tailscale up failed on ${REDACTED_TEXT} (invoice ${REDACTED_TEXT} of ${REDACTED_TEXT})`,
      currentStep: 'in_progress_marker',
      updatedAt: '2026-12-04T23:53:04.123Z',
    });
    const text = JSON.stringify(shown);
    for (const secret of ['ada@example.com', '203.0.113.7', 'fd7a:115c', 'cus_', 'sub_', 'in_1Nq'])
      expect(text).not.toContain(secret);
  });

  it('leaves the input untouched and shows operators and customers everything', () => {
    const before = structuredClone(view);
    redact(view);
    expect(view).toEqual(before);
    expect(shownTo('operator', view)).toBe(view);
    expect(shownTo('customer', view)).toBe(view);
    expect(shownTo('support', view)).toEqual(redact(view));
  });
});
