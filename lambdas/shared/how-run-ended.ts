/**
 * Asks how a provisioning job's workflow run ended: the job's own record first (a final report that arrived late),
 * then GitHub (the run the job recorded, or the one whose title names the job), and for a run that succeeded Hetzner
 * (the server labelled with the job) and Tailscale (the device named after it). Reads only. Used by CheckRun; anything
 * else about to give up on a live job (the sweeper) asks the same before it rolls back (invariant I4).
 */
import { findWorkflowRunOfJob, getWorkflowRun, runSearchStart, type GithubTarget } from './clients/github.ts';
import { serversOfJob, type HetznerTarget } from './clients/hetzner.ts';
import { deviceOfJob, type TailscaleTarget } from './clients/tailscale.ts';
import type { JobRecord } from './repository.ts';
import { JOB_NOT_FOUND, outcomeFromJob, outcomeOfSucceededRun, verdictOfRun, type RunOutcome } from './run-outcome.ts';

export interface RunSources {
  readonly github: GithubTarget & { readonly workflowFile: string };
  readonly hetzner: HetznerTarget;
  readonly tailscale: TailscaleTarget;
}

/**
 * @param sources the APIs to ask, called only when the job alone does not decide (no token is read before)
 * @throws ApiUnavailableError when an API keeps failing, Error for any other failed answer
 */
export async function howRunEnded(
  jobId: string,
  job: JobRecord | undefined,
  sources: () => Promise<RunSources>,
): Promise<RunOutcome> {
  if (job === undefined) return JOB_NOT_FOUND;
  const fromJob = outcomeFromJob(job);
  if (fromJob !== undefined) return fromJob;

  const { github, hetzner, tailscale } = await sources();
  const runId =
    job.workflowRunId ??
    (
      await findWorkflowRunOfJob(github, {
        workflowFile: github.workflowFile,
        jobId,
        createdSince: runSearchStart(Date.parse(job.createdAt)),
      })
    )?.workflowRunId;
  const { verdict, reason } = verdictOfRun(runId === undefined ? undefined : await getWorkflowRun(github, runId));
  if (verdict !== 'succeeded') return { verdict, vm: {}, reason };

  const [servers, device] = await Promise.all([serversOfJob(hetzner, jobId), deviceOfJob(tailscale, jobId)]);
  return outcomeOfSucceededRun(job.vm, servers, device);
}
