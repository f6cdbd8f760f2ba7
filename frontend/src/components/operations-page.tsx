/**
 * The operations console (`#/operations`), for operators and support: the fleet's health (last hour and 24 h, failures
 * by step, p50/p95 of each step as an inline SVG chart, stuck jobs and lifecycle actions), every job newest first with
 * filters, and per job its run, its agent's audit trail (who, when, why) and, for operators, Retry of a failed job or
 * Cancel of a live one, each with a reason. Live: the fleet channel's summaries make it
 * read the table again. Everything shown comes from the API, which redacts for support and refuses what a role may not do.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { REGIONS } from '../../../lambdas/domain/schemas.ts';
import { JOB_STATUSES } from '../../../lambdas/domain/statuses.ts';
import { CANCELLED_STEP, UI_STEP_KEYS, WORKFLOW_STEPS } from '../../../lambdas/domain/steps.ts';
import {
  ApiError,
  type AuditTrail,
  type FleetHealth,
  type JobFilters,
  type JobSummary,
  type WindowHealth,
} from '../api.ts';
import { MAIN_ID, usePageHeading } from '../page.ts';
import { agentStatusBadge, formatDuration } from '../presentation.ts';
import { agentHref } from '../router.ts';
import { StatusBadge } from './badge.tsx';
import { AuditEntries } from './audit-trail.tsx';
import { useServices } from '../services.ts';

/** Re-reading after a burst of fleet updates waits this long, so a busy fleet costs one read per burst. */
const REFRESH_DEBOUNCE_MS = 500;

export function OperationsPage() {
  const { api, live } = useServices();
  const [filters, setFilters] = useState<JobFilters>({});
  const [jobs, setJobs] = useState<JobSummary[]>([]);
  const [cursor, setCursor] = useState<string | undefined>();
  const [health, setHealth] = useState<FleetHealth | undefined>();
  const [problem, setProblem] = useState<string | undefined>();
  const heading = usePageHeading('Operations');
  const filtersRef = useRef(filters);
  filtersRef.current = filters;

  const load = useCallback(async () => {
    try {
      const [page, fleet] = await Promise.all([api.operationsJobs(filtersRef.current), api.operationsHealth()]);
      setJobs(page.jobs);
      setCursor(page.cursor);
      setHealth(fleet);
      setProblem(undefined);
    } catch (error) {
      setProblem(error instanceof Error ? error.message : 'The console could not be loaded');
    }
  }, [api]);

  useEffect(() => {
    void load();
  }, [load, filters]);

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = live.watchFleet(() => {
      clearTimeout(timer);
      timer = setTimeout(() => void load(), REFRESH_DEBOUNCE_MS);
    });
    return () => {
      clearTimeout(timer);
      stop();
    };
  }, [live, load]);

  const more = async (): Promise<void> => {
    if (cursor === undefined) return;
    const page = await api.operationsJobs(filters, cursor);
    setJobs((shown) => [...shown, ...page.jobs]);
    setCursor(page.cursor);
  };

  return (
    <main class="page operations" data-testid="operations" id={MAIN_ID} tabIndex={-1}>
      <h1 tabIndex={-1} ref={heading}>
        Operations
      </h1>
      {problem !== undefined && (
        <p class="notice notice--bad" role="alert">
          {problem}
        </p>
      )}
      {health !== undefined && <HealthPanel health={health} />}
      <JobFiltersForm filters={filters} onChange={setFilters} failedSteps={failedStepChoices(health)} />
      <table class="jobs" data-testid="jobs">
        <thead>
          <tr>
            <th>Created</th>
            <th>Job</th>
            <th>Agent</th>
            <th>User</th>
            <th>Region</th>
            <th>Status</th>
            <th>Steps</th>
            <th>Duration</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <JobRow key={job.jobId} job={job} onActed={load} />
          ))}
        </tbody>
      </table>
      {jobs.length === 0 && <p class="muted">No jobs match.</p>}
      {cursor !== undefined && (
        <button type="button" class="button" onClick={() => void more()}>
          More
        </button>
      )}
    </main>
  );
}

function HealthPanel({ health }: { health: FleetHealth }) {
  return (
    <section class="health" data-testid="health" aria-label="Health">
      <WindowCard title="Last hour" window={health.lastHour} testId="health-hour" />
      <WindowCard title="Last 24 h" window={health.last24h} testId="health-day" />
      <div class="card health__stuck" data-testid="stuck">
        <h2>Stuck past their bound</h2>
        {health.stuck.length === 0 ? (
          <p class="muted">None</p>
        ) : (
          <ul>
            {health.stuck.map((entry) => (
              <li key={`${entry.agentId}-${entry.jobId ?? entry.agentStatus}`} data-testid="stuck-entry">
                {entry.agentId} ({entry.currentStep ?? entry.agentStatus}): {entry.reason}
              </li>
            ))}
          </ul>
        )}
      </div>
    </section>
  );
}

function WindowCard({ title, window, testId }: { title: string; window: WindowHealth; testId: string }) {
  return (
    <div class="card health__window" data-testid={testId}>
      <h2>{title}</h2>
      <dl class="health__counts">
        <dt>Started</dt>
        <dd data-testid={`${testId}-started`}>{window.started}</dd>
        <dt>Succeeded</dt>
        <dd data-testid={`${testId}-succeeded`}>{window.succeeded}</dd>
        <dt>Failed</dt>
        <dd data-testid={`${testId}-failed`}>{window.failed}</dd>
      </dl>
      <h3>Failures by step</h3>
      {window.failuresByStep.length === 0 ? (
        <p class="muted">None</p>
      ) : (
        <ul data-testid={`${testId}-failures`}>
          {window.failuresByStep.map(({ step, count }) => (
            <li key={step} data-step={step}>
              {step}: {count}
            </li>
          ))}
        </ul>
      )}
      <h3>Step duration, p50 / p95</h3>
      <DurationChart durations={window.stepDurations} testId={`${testId}-chart`} />
    </div>
  );
}

const CHART = { width: 320, rowHeight: 18, label: 90 };

/** A horizontal bar per step: the p95 bar light, the p50 bar dark over it, both to one scale. */
function DurationChart({ durations, testId }: { durations: WindowHealth['stepDurations']; testId: string }) {
  const max = Math.max(1, ...durations.map((entry) => entry.p95Ms ?? 0));
  const scale = (ms: number | undefined) => ((ms ?? 0) / max) * (CHART.width - CHART.label - 95);
  return (
    <svg
      class="chart"
      data-testid={testId}
      role="img"
      aria-label="p50 and p95 duration of each step"
      width={CHART.width}
      height={durations.length * CHART.rowHeight}
      viewBox={`0 0 ${CHART.width} ${durations.length * CHART.rowHeight}`}
    >
      {durations.map((entry, index) => {
        const y = index * CHART.rowHeight;
        return (
          <g key={entry.step} data-step={entry.step} data-p50={entry.p50Ms ?? ''} data-p95={entry.p95Ms ?? ''}>
            <text x={0} y={y + 13} class="chart__label">
              {entry.step}
            </text>
            <rect x={CHART.label} y={y + 3} height={12} width={scale(entry.p95Ms)} class="chart__p95" />
            <rect x={CHART.label} y={y + 3} height={12} width={scale(entry.p50Ms)} class="chart__p50" />
            <text x={CHART.label + scale(entry.p95Ms) + 4} y={y + 13} class="chart__value">
              {entry.count === 0 ? '-' : `${formatDuration(entry.p50Ms ?? 0)} / ${formatDuration(entry.p95Ms ?? 0)}`}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

/**
 * The failed steps to filter by: the workflow's steps, a cancel, the steps people see (a timeout fails the step it
 * was in), and whatever else failed in the last 24 h. The API matches part of the step, so each finds its kind.
 */
function failedStepChoices(health: FleetHealth | undefined): string[] {
  const seen = health?.last24h.failuresByStep.map(({ step }) => step) ?? [];
  return [...new Set([...WORKFLOW_STEPS, CANCELLED_STEP, ...UI_STEP_KEYS, ...seen])];
}

function JobFiltersForm({
  filters,
  onChange,
  failedSteps,
}: {
  filters: JobFilters;
  onChange: (filters: JobFilters) => void;
  failedSteps: readonly string[];
}) {
  const set = (name: keyof JobFilters) => (event: Event) =>
    onChange({ ...filters, [name]: (event.target as HTMLInputElement).value });
  return (
    <form class="filters" data-testid="job-filters" onSubmit={(event) => event.preventDefault()}>
      <label>
        Status
        <select value={filters.status ?? ''} onChange={set('status')}>
          <option value="">any</option>
          {JOB_STATUSES.map((status) => (
            <option key={status} value={status}>
              {status}
            </option>
          ))}
        </select>
      </label>
      <label>
        Failed step
        <select value={filters.failedStep ?? ''} onChange={set('failedStep')}>
          <option value="">any</option>
          {failedSteps.map((step) => (
            <option key={step} value={step}>
              {step}
            </option>
          ))}
        </select>
      </label>
      <label>
        Region
        <select value={filters.region ?? ''} onChange={set('region')}>
          <option value="">any</option>
          {REGIONS.map((region) => (
            <option key={region} value={region}>
              {region}
            </option>
          ))}
        </select>
      </label>
      <label>
        User
        <input value={filters.userId ?? ''} onChange={set('userId')} />
      </label>
    </form>
  );
}

function JobRow({ job, onActed }: { job: JobSummary; onActed: () => Promise<void> }) {
  const { api } = useServices();
  const [open, setOpen] = useState(false);
  const [trail, setTrail] = useState<AuditTrail | undefined>();
  // The action whose reason is being asked for: only the one the operator chose on this row, and none once it was
  // accepted, so no later Enter can send another action with the reason written for this one.
  const [asking, setAsking] = useState<OperatorAction | undefined>();
  const [reason, setReason] = useState('');
  const [message, setMessage] = useState<string | undefined>();

  const showTrail = async (): Promise<void> => {
    setOpen(true);
    setTrail(await api.auditTrail(job.agentId));
  };
  const toggleTrail = async (): Promise<void> => {
    if (open) setOpen(false);
    else await showTrail();
  };
  // What the API offers this caller from this line (access.ts#offeredActions): Retry of the agent's current failed
  // job, Cancel of its live one (the agent ends failed, its resources rolled back, the owner may retry); none to
  // support, none on an older attempt.
  const offered: readonly OperatorAction[] = (job.agent?.actions ?? []).map((action) => ACTIONS[action]);
  const ask = async (chosen: OperatorAction): Promise<void> => {
    setAsking(chosen);
    setReason('');
    setMessage(undefined);
    await showTrail();
  };
  const act = async (chosen: OperatorAction): Promise<void> => {
    try {
      await api.requestAction(job.agentId, chosen.action, crypto.randomUUID(), reason);
      setAsking(undefined);
      setReason('');
      setMessage(`${chosen.label} accepted`);
      setTrail(await api.auditTrail(job.agentId));
      await onActed();
    } catch (error) {
      setMessage(error instanceof ApiError ? error.message : `${chosen.label} failed`);
    }
  };

  return (
    <>
      <tr data-testid={`job-${job.jobId}`} data-status={job.status}>
        <td data-label="Created">{new Date(job.createdAt).toLocaleString()}</td>
        <td data-label="Job">
          <code>{job.jobId}</code>
        </td>
        <td data-label="Agent" data-testid="job-agent">
          {job.agent === undefined ? (
            <code>{job.agentId}</code>
          ) : (
            <>
              <a href={agentHref(job.agentId)}>{job.agent.name}</a>{' '}
              <StatusBadge badge={agentStatusBadge(job.agent.agentStatus)} testId="job-agent-status" />
            </>
          )}
        </td>
        <td data-label="User">{job.userId}</td>
        <td data-label="Region">{job.region}</td>
        <td data-label="Job status">
          <span
            class={`badge badge--${job.status === 'failed' ? 'bad' : job.status === 'running' ? 'good' : 'progress'}`}
          >
            {job.status}
          </span>
          {job.failedStep !== undefined && <span class="muted"> at {job.failedStep}</span>}
          {job.error !== undefined && (
            <span class="jobs__error" data-testid="job-error">
              {job.error}
            </span>
          )}
        </td>
        <td data-label="Steps">
          <StepProgress job={job} />
        </td>
        <td data-label="Duration">{formatDuration(job.durationMs)}</td>
        <td class="jobs__actions">
          <div class="jobs__buttons">
            {job.workflowRunUrl !== undefined && (
              <a href={job.workflowRunUrl} target="_blank" rel="noreferrer" data-testid="run-link">
                Run
              </a>
            )}
            <button
              type="button"
              class="button button--quiet"
              onClick={() => void toggleTrail()}
              data-testid="show-history"
            >
              History
            </button>
            {offered.map((action) => (
              <button
                key={action.action}
                type="button"
                class={`button ${action.buttonClass}`}
                onClick={() => void ask(action)}
                data-testid={`open-${action.action}`}
              >
                {action.label}
              </button>
            ))}
          </div>
        </td>
      </tr>
      {open && (
        <tr class="jobs__detail" data-testid={`job-detail-${job.jobId}`}>
          <td colSpan={9}>
            {asking !== undefined && offered.includes(asking) && (
              <form
                class="form form--inline"
                onSubmit={(event) => {
                  event.preventDefault();
                  void act(asking);
                }}
              >
                <label>
                  Reason
                  <input
                    value={reason}
                    onInput={(event) => setReason((event.target as HTMLInputElement).value)}
                    required
                    minLength={3}
                  />
                </label>
                <button type="submit" class={`button ${asking.buttonClass}`} data-testid={asking.testId}>
                  {asking.confirmLabel}
                </button>
              </form>
            )}
            {message !== undefined && <p role="status">{message}</p>}
            <AuditEntries trail={trail} />
          </td>
        </tr>
      )}
    </>
  );
}

interface OperatorAction {
  readonly action: 'retry' | 'cancel';
  /** The row's button, which asks for the reason. */
  readonly label: string;
  /** The form's button, which sends the action with it. */
  readonly confirmLabel: string;
  readonly testId: string;
  readonly buttonClass: string;
}

const ACTIONS = {
  retry: {
    action: 'retry',
    label: 'Retry',
    confirmLabel: 'Retry with this reason',
    testId: 'retry-job',
    buttonClass: 'button--primary',
  },
  cancel: {
    action: 'cancel',
    label: 'Cancel',
    confirmLabel: 'Cancel provisioning',
    testId: 'cancel-job',
    buttonClass: 'button--danger',
  },
} as const satisfies Record<string, OperatorAction>;

/** Six small cells, one per step, coloured by status, titled with the step's duration. */
function StepProgress({ job }: { job: JobSummary }) {
  return (
    <span class="progress" title={`${job.stepsDone} of ${UI_STEP_KEYS.length} steps`}>
      {job.steps.map((step) => (
        <span
          key={step.key}
          class={`progress__step progress__step--${step.status}`}
          title={`${step.key}: ${step.status}${step.durationMs === undefined ? '' : `, ${formatDuration(step.durationMs)}`}`}
        />
      ))}
      <span class="muted">
        {' '}
        {job.stepsDone}/{UI_STEP_KEYS.length}
      </span>
    </span>
  );
}
