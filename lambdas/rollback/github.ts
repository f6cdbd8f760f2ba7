/** The two GitHub Actions calls of the pipeline: dispatch the provisioning workflow, cancel one of its runs. */
import { apiMessage, callApi } from './api-client.ts';

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
  readonly inputs: Readonly<Record<string, string>>;
}

/** The run GitHub created, when it says (`return_run_details`). */
export interface DispatchedRun {
  readonly workflowRunId?: string;
  readonly workflowRunUrl?: string;
}

/** GitHub refused the dispatch with an answer that will not change on retry (bad input, missing workflow, no access). */
export class DispatchRefusedError extends Error {
  override readonly name = 'DispatchRefused';
}

const GITHUB_HEADERS = { Accept: 'application/vnd.github+json', 'X-GitHub-Api-Version': '2022-11-28' } as const;

const repositoryUrl = (target: GithubTarget) => `${target.apiUrl.replace(/\/$/, '')}/repos/${target.repository}`;

/**
 * Dispatches `workflow_dispatch` and returns the run's id and page when GitHub reports them.
 * @throws DispatchRefusedError for a 4xx that will not heal; ApiUnavailableError when GitHub keeps failing
 */
export async function dispatchWorkflow(target: GithubTarget, request: DispatchRequest): Promise<DispatchedRun> {
  const workflow = encodeURIComponent(request.workflowFile);
  const response = await callApi({
    method: 'POST',
    url: `${repositoryUrl(target)}/actions/workflows/${workflow}/dispatches`,
    token: target.token,
    headers: GITHUB_HEADERS,
    body: { ref: request.ref, inputs: request.inputs, return_run_details: true },
  });
  if (response.status >= 400) {
    const reason = apiMessage(response.body, 'no reason given');
    throw new DispatchRefusedError(`GitHub refused to start the provisioning workflow (HTTP ${response.status}): ${reason}`);
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
    throw new Error(`Cancelling workflow run ${runId} failed (HTTP ${response.status}): ${apiMessage(response.body, 'no reason given')}`);
  }
  return true;
}
