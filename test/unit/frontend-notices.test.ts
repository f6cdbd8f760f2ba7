/**
 * The agent page's passing notices (frontend/src/notices.ts): each holds only while the agent is in the state it
 * describes, and once dropped never comes back.
 */
import { describe, expect, it } from 'vitest';
import { addNotice, noticeHolds, settleNotices, type PageNotice } from '../../frontend/src/notices.ts';
import type { AgentView } from '../../lambdas/domain/schemas.ts';

type Subject = Pick<AgentView, 'agentStatus' | 'jobId' | 'seq'>;
const paid: PageNotice = {
  id: 'checkout',
  tone: 'good',
  text: 'Payment received',
  about: { statuses: ['draft', 'provisioning'], jobId: 'first-seen' },
};

/** Runs `notices` through the views the page sees, in order; what is left after each. */
function through(notices: readonly PageNotice[], views: readonly Subject[]): (readonly PageNotice[])[] {
  const seen: (readonly PageNotice[])[] = [];
  let current = notices;
  for (const view of views) {
    current = settleNotices(current, view);
    seen.push(current);
  }
  return seen;
}

describe('page notices', () => {
  it('keeps "Payment received" for the payment\'s own job only, never for a Retry\'s', () => {
    const shown = through(
      [paid],
      [
        { agentStatus: 'draft', jobId: null, seq: 0 },
        { agentStatus: 'provisioning', jobId: 'job_1', seq: 1 },
        { agentStatus: 'provisioning', jobId: 'job_1', seq: 2 },
        { agentStatus: 'failed', jobId: 'job_1', seq: 3 },
        { agentStatus: 'provisioning', jobId: 'job_2', seq: 4 },
      ],
    );
    expect(shown.map((notices) => notices.length)).toEqual([1, 1, 1, 0, 0]);
    // Even a page that first sees the retry's job (it loaded late) binds to it, then lets go when it fails.
    expect(
      noticeHolds(
        { ...paid, about: { ...paid.about, jobId: 'job_1' } },
        { agentStatus: 'provisioning', jobId: 'job_2', seq: 4 },
      ),
    ).toBe(false);
  });

  it('drops an answer about the agent as it was once anything happens to it', () => {
    const failed: Subject = { agentStatus: 'failed', jobId: 'job_1', seq: 3 };
    const requested = addNotice(
      [],
      { id: 'retry', tone: 'neutral', text: 'Retry requested', about: { seq: 3 } },
      failed,
    );
    const shown = through(requested, [
      failed,
      { agentStatus: 'provisioning', jobId: 'job_2', seq: 4 },
      { agentStatus: 'failed', jobId: 'job_2', seq: 9 },
    ]);
    expect(shown.map((notices) => notices.length)).toEqual([1, 0, 0]);
  });

  it('replaces a notice of the same id, and answers the same array when nothing changed', () => {
    const view: Subject = { agentStatus: 'active', jobId: 'job_1', seq: 5 };
    const first = addNotice([], { id: 'control', tone: 'bad', text: 'refused', about: { seq: 5 } }, view);
    const second = addNotice(first, { id: 'control', tone: 'bad', text: 'refused again', about: { seq: 5 } }, view);
    expect(second.map((notice) => notice.text)).toEqual(['refused again']);
    expect(settleNotices(second, view)).toBe(second);
  });
});
