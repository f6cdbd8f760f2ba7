/**
 * The agent page's passing notices (how a checkout ended, what the server answered to a button), each kept with the
 * state of the agent it describes and dropped for good once the agent has left that state: a notice can neither
 * outlive what it is about ("Retry requested" next to the new attempt's failure) nor come back when a later state
 * resembles it ("Payment received" during a Retry's provisioning). Pure, so it is unit-tested without a browser;
 * `useNotices` (notice.tsx) keeps the list for a page.
 */
import type { AgentView } from '../../lambdas/domain/schemas.ts';
import type { AgentStatus } from '../../lambdas/domain/statuses.ts';

/** The state of the agent a notice describes; each given part must still hold for the notice to be shown. */
export interface NoticeScope {
  /** The agent is in one of these statuses. */
  readonly statuses?: readonly AgentStatus[];
  /**
   * The agent's current job is this one (`null`: it has none yet). `'first-seen'` binds the notice to the first job
   * the page sees while the notice holds, e.g. the job a payment started.
   */
  readonly jobId?: string | null | 'first-seen';
  /** Nothing has happened to the agent since: an answer about the agent as it was when the request was sent. */
  readonly seq?: number;
}

export interface PageNotice {
  /** One notice per id: a newer one replaces it (and names its test id, `<id>-outcome`). */
  readonly id: string;
  readonly tone: 'good' | 'neutral' | 'bad';
  readonly text: string;
  readonly about: NoticeScope;
}

type NoticeSubject = Pick<AgentView, 'agentStatus' | 'jobId' | 'seq'>;

/** The notice with a `'first-seen'` job bound to the view's job, once the view has one. */
function bound(notice: PageNotice, view: NoticeSubject | undefined): PageNotice {
  if (notice.about.jobId !== 'first-seen' || view === undefined || view.jobId === null) return notice;
  return { ...notice, about: { ...notice.about, jobId: view.jobId } };
}

/** True while the agent is still in the state the notice describes (an agent not loaded yet keeps it). */
export function noticeHolds(notice: PageNotice, view: NoticeSubject | undefined): boolean {
  if (view === undefined) return true;
  const { statuses, jobId, seq } = notice.about;
  if (statuses !== undefined && !statuses.includes(view.agentStatus)) return false;
  if (jobId !== undefined && jobId !== 'first-seen' && jobId !== view.jobId) return false;
  return seq === undefined || seq === view.seq;
}

/**
 * The notices still shown for `view`: bound to its job where they wait for one, without those it no longer fits.
 * The same array when nothing changed, so a page can keep it as state without looping.
 */
export function settleNotices(notices: readonly PageNotice[], view: NoticeSubject | undefined): readonly PageNotice[] {
  const next = notices.map((notice) => bound(notice, view)).filter((notice) => noticeHolds(notice, view));
  return next.length === notices.length && next.every((notice, index) => notice === notices[index]) ? notices : next;
}

/** `notices` with `notice` added (replacing one of the same id), bound to the view it was made for. */
export function addNotice(
  notices: readonly PageNotice[],
  notice: PageNotice,
  view: NoticeSubject | undefined,
): readonly PageNotice[] {
  return [...notices.filter((shown) => shown.id !== notice.id), bound(notice, view)];
}
