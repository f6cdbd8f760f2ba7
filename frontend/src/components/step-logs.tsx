import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { UiStep } from '../../../lambdas/domain/steps.ts';
import { cursorOf, EMPTY_LOG, linesByStep, withBatches, type JobLog, type StepLog } from '../live/job-log.ts';
import { useLiveState, useServices } from '../services.ts';

/**
 * The log lines of the agent's job `jobId`, live: each batch the WebSocket brings, and whatever it missed read with
 * `GET /agents/{agentId}/logs?after=` when the page opens, when the job changes and whenever the socket is live again.
 * Batches are kept by number, so one that comes both ways is shown once.
 */
export function useStepLogs(agentId: string, jobId: string | null) {
  const { api, live } = useServices();
  const connected = useLiveState().status === 'live';
  const [log, setLog] = useState<JobLog>(EMPTY_LOG);
  const held = useRef(log);
  held.current = log;

  useEffect(
    () => live.onLogs(agentId, (message) => setLog((current) => withBatches(current, message.jobId, [message]))),
    [live, agentId],
  );

  useEffect(() => {
    if (jobId === null) return;
    let stopped = false;
    void (async () => {
      try {
        for (let more = true; more && !stopped; ) {
          const from = held.current.jobId === jobId ? cursorOf(held.current) : 0;
          const page = await api.logs(agentId, from, jobId);
          if (stopped) return;
          setLog((current) => withBatches(current, jobId, page.batches));
          held.current = withBatches(held.current, jobId, page.batches);
          more = page.more && page.batches.length > 0;
        }
      } catch {
        // Read again the next time the socket is live; the live batches go on arriving meanwhile.
      }
    })();
    return () => {
      stopped = true;
    };
  }, [api, agentId, jobId, connected]);

  return useMemo(() => linesByStep(log.jobId === jobId ? log : EMPTY_LOG), [log, jobId]);
}

/**
 * One step's log lines, collapsed under it; the failed step's open, scrolled to its last lines (what failed is at the
 * end). What the sender cut past the job's bounds is said.
 */
export function StepLogView({ step, log }: { step: UiStep; log: StepLog | undefined }) {
  const lines = useRef<HTMLPreElement>(null);
  const failed = step.status === 'error';
  const count = log?.lines.length ?? 0;
  useEffect(() => {
    const pre = lines.current;
    if (failed && pre !== null) pre.scrollTop = pre.scrollHeight;
  }, [failed, count]);
  if (log === undefined) return null;
  return (
    <details class="step__log" open={failed} data-testid={`log-${step.key}`}>
      <summary>
        {count === 1 ? '1 log line' : `${count} log lines`}
        {log.cut === undefined ? null : ` · ${log.cut.lines} more cut (over the log's limit)`}
      </summary>
      <pre ref={lines} class="step__log-lines">
        {log.lines.map((line) => line.text).join('\n')}
      </pre>
    </details>
  );
}
