/** The GitHub Actions calls of the pipeline: dispatch the provisioning workflow, find a job's run, cancel a run. */
import { ApiUnavailableError, apiMessage, callApi, type RetryPolicy } from './api-client.ts';
import { ERROR_NAMES } from '../../domain/error-names.ts';

export interface GithubTarget {
  /** e.g. `https://api.github.com` */
  readonly apiUrl: string;
  /** `owner/repo` */
  readonly repository: string;
  readonly token: string;
}

export interface DispatchRequest {
  readonly workflowFile: string;
  readonly ref: string;
  /** The job the run provisions: sent as the `job_id` input, and found again in the run's title (the workflow's `run-name`). */
  readonly jobId: string;
  /** The other inputs. */
  readonly inputs: Readonly<Record<string, string>>;
}

/** The run GitHub created, when it says (`return_run_details`). */
export interface DispatchedRun {
  readonly workflowRunId?: string;
  readonly workflowRunUrl?: string;
}

/** GitHub refused the dispatch with an answer that will not change on retry (bad input, missing workflow, no access). */
export class DispatchRefusedError extends Error {
  override readonly name = ERROR_NAMES.DispatchRefused;
}

const GITHUB_HEADERS = { Accept: 'application/vnd.github+json', 'X-GitHub-Api-Version': '2022-11-28' } as const;

/**
 * Dispatch attempts and their time budget. The last attempt starts within the budget and ends within its timeout
 * (23 s), inside the 30 s Lambda with room for the token store before it: a Lambda timeout mid-dispatch would leave
 * nobody knowing whether the run exists.
 */
const DISPATCH = { attempts: 4, timeoutMs: 8_000, budgetMs: 15_000, baseDelayMs: 500 } as const;
/** Margin for clock skew between us and GitHub when searching runs by their creation time. */
const CLOCK_SKEW_MS = 60_000;

/** The `createdSince` of a run search for a run that cannot have been created before `notBeforeMs` (epoch ms). */
export function runSearchStart(notBeforeMs: number): string {
  return new Date(notBeforeMs - CLOCK_SKEW_MS).toISOString();
}
const RUNS_PER_PAGE = 100;

const repositoryUrl = (target: GithubTarget) => `${target.apiUrl.replace(/\/$/, '')}/repos/${target.repository}`;

/**
 * Dispatches `workflow_dispatch` and returns the run's id and page when GitHub reports them. A timeout, network error
 * or 5xx may come after GitHub accepted the dispatch, so before each retry the job's run is looked up (by the job id in
 * its title) and returned if it exists: a retry never starts a second run. When the budget runs out, or a lookup keeps
 * failing, this throws ApiUnavailableError without dispatching again; the state machine does not retry that error:
 * the job fails and rollback looks the run up the same way and cancels it.
 * @throws DispatchRefusedError for a 4xx that will not heal; ApiUnavailableError when GitHub keeps failing
 */
export async function dispatchWorkflow(target: GithubTarget, request: DispatchRequest): Promise<DispatchedRun> {
  const started = Date.now();
  // A run created for a lost answer is no older than the first attempt.
  const createdSince = runSearchStart(started);
  const remainingMs = () => DISPATCH.budgetMs - (Date.now() - started);
  for (let attempt = 1; ; attempt++) {
    try {
      return await dispatchOnce(target, request);
    } catch (error) {
      const delayMs = Math.random() * DISPATCH.baseDelayMs * 2 ** (attempt - 1);
      if (!(error instanceof ApiUnavailableError) || attempt >= DISPATCH.attempts || delayMs > remainingMs())
        throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      const run = await findWorkflowRunOfJob(
        target,
        { workflowFile: request.workflowFile, jobId: request.jobId, createdSince },
        { timeoutMs: DISPATCH.timeoutMs, budgetMs: remainingMs() },
      );
      if (run !== undefined) return run;
      // The lookup's own retries may have used the rest of the budget; a late dispatch could outlive the Lambda.
      if (remainingMs() <= 0) throw error;
    }
  }
}

async function dispatchOnce(target: GithubTarget, request: DispatchRequest): Promise<DispatchedRun> {
  const response = await callApi(
    {
      method: 'POST',
      url: `${repositoryUrl(target)}/actions/workflows/${encodeURIComponent(request.workflowFile)}/dispatches`,
      token: target.token,
      headers: GITHUB_HEADERS,
      body: { ref: request.ref, inputs: { ...request.inputs, job_id: request.jobId }, return_run_details: true },
    },
    { attempts: 1, timeoutMs: DISPATCH.timeoutMs },
  );
  if (response.status >= 400) {
    const reason = apiMessage(response.body, 'no reason given');
    throw new DispatchRefusedError(
      `GitHub refused to start the provisioning workflow (HTTP ${response.status}): ${reason}`,
    );
  }
  const run = (response.body ?? {}) as { workflow_run_id?: unknown; html_url?: unknown };
  return {
    ...(typeof run.workflow_run_id === 'number' || typeof run.workflow_run_id === 'string'
      ? { workflowRunId: String(run.workflow_run_id) }
      : {}),
    ...(typeof run.html_url === 'string' ? { workflowRunUrl: run.html_url } : {}),
  };
}

/**
 * The `workflow_dispatch` run of a job created since `createdSince` (ISO time), found by the job id as a word of the
 * run's title (`run-name`); the newest when there are several.
 * @throws ApiUnavailableError when GitHub keeps failing, Error for any other failed answer
 */
export async function findWorkflowRunOfJob(
  target: GithubTarget,
  query: { readonly workflowFile: string; readonly jobId: string; readonly createdSince: string },
  policy?: RetryPolicy,
): Promise<{ workflowRunId: string; workflowRunUrl: string } | undefined> {
  const workflow = encodeURIComponent(query.workflowFile);
  for (let page = 1; ; page++) {
    const search = new URLSearchParams({
      event: 'workflow_dispatch',
      created: `>=${query.createdSince}`,
      exclude_pull_requests: 'true',
      per_page: String(RUNS_PER_PAGE),
      page: String(page),
    });
    const response = await callApi(
      {
        method: 'GET',
        url: `${repositoryUrl(target)}/actions/workflows/${workflow}/runs?${search}`,
        token: target.token,
        headers: GITHUB_HEADERS,
      },
      policy,
    );
    if (response.status !== 200) {
      throw new Error(
        `Listing the runs of ${query.workflowFile} failed (HTTP ${response.status}): ${apiMessage(response.body, 'no reason given')}`,
      );
    }
    const runs =
      ((response.body ?? {}) as { workflow_runs?: { id: number; display_title?: string; html_url: string }[] })
        .workflow_runs ?? [];
    // Newest first; a word match, so job `abc` is not taken for job `abcd`.
    const run = runs.find((candidate) => (candidate.display_title ?? '').split(/[\s()[\]]+/).includes(query.jobId));
    if (run !== undefined) return { workflowRunId: String(run.id), workflowRunUrl: run.html_url };
    if (runs.length < RUNS_PER_PAGE) return undefined;
  }
}

/** Where a run is (`queued`, `in_progress`, `completed`, ...) and, once completed, how it ended (`success`, ...). */
export interface WorkflowRunState {
  readonly status: string;
  readonly conclusion: string | null;
}

/**
 * How a workflow run stands, as GitHub reports it.
 * @returns undefined when GitHub knows no such run (404)
 * @throws ApiUnavailableError when GitHub keeps failing, Error for any other failed answer
 */
export async function getWorkflowRun(target: GithubTarget, runId: string): Promise<WorkflowRunState | undefined> {
  const response = await callApi({
    method: 'GET',
    url: `${repositoryUrl(target)}/actions/runs/${encodeURIComponent(runId)}`,
    token: target.token,
    headers: GITHUB_HEADERS,
  });
  if (response.status === 404) return undefined;
  if (response.status !== 200) {
    throw new Error(
      `Reading workflow run ${runId} failed (HTTP ${response.status}): ${apiMessage(response.body, 'no reason given')}`,
    );
  }
  const run = (response.body ?? {}) as { status?: unknown; conclusion?: unknown };
  return {
    status: typeof run.status === 'string' ? run.status : 'unknown',
    conclusion: typeof run.conclusion === 'string' ? run.conclusion : null,
  };
}

/**
 * Cancels a workflow run. A run that has already finished (409) or does not exist (404) needs nothing.
 * @returns whether a cancellation was requested
 */
export async function cancelWorkflowRun(target: GithubTarget, runId: string): Promise<boolean> {
  const response = await callApi({
    method: 'POST',
    url: `${repositoryUrl(target)}/actions/runs/${encodeURIComponent(runId)}/cancel`,
    token: target.token,
    headers: GITHUB_HEADERS,
  });
  if (response.status === 409 || response.status === 404) return false;
  if (response.status >= 400) {
    throw new Error(
      `Cancelling workflow run ${runId} failed (HTTP ${response.status}): ${apiMessage(response.body, 'no reason given')}`,
    );
  }
  return true;
}
