import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { AgentView } from '../../../lambdas/domain/schemas.ts';
import { addNotice, type PageNotice, settleNotices } from '../notices.ts';

/**
 * A coloured message block (`.notice` in styles.css). `alert` interrupts a screen reader, for what needs acting on;
 * `status` is read when the reader is idle, for news. A `section` holds a heading and buttons; a `p` only text.
 */
export function Notice({
  tone,
  role,
  testId,
  as: Element = 'p',
  children,
}: {
  tone: 'good' | 'neutral' | 'bad';
  role: 'alert' | 'status';
  testId?: string;
  as?: 'p' | 'section';
  children: ComponentChildren;
}) {
  return (
    <Element class={`notice notice--${tone}`} role={role} data-testid={testId}>
      {children}
    </Element>
  );
}

/** Adds a passing notice about the agent as the page shows it now (notices.ts). */
export type Notify = (notice: PageNotice) => void;

/**
 * The page's passing notices for `view`, each dropped for good once the agent has left the state it describes
 * (notices.ts), and `notify` to add one.
 */
export function useNotices(
  view: AgentView | undefined,
  initial: readonly PageNotice[] = [],
): { notices: readonly PageNotice[]; notify: Notify } {
  const [kept, setKept] = useState(initial);
  const notices = settleNotices(kept, view);
  useEffect(() => {
    if (notices !== kept) setKept(notices);
  }, [notices, kept]);
  const notify: Notify = (notice) => setKept((current) => addNotice(settleNotices(current, view), notice, view));
  return { notices, notify };
}

/** The passing notices, newest last; a refusal is news (`status`), never an interruption. */
export function PageNotices({ notices }: { notices: readonly PageNotice[] }) {
  return (
    <>
      {notices.map((notice) => (
        <Notice key={notice.id} tone={notice.tone} role="status" testId={`${notice.id}-outcome`}>
          {notice.text}
        </Notice>
      ))}
    </>
  );
}
