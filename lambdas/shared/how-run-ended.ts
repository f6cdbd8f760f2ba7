/**
 * Asks how a provisioning job's workflow run ended: the job's own record first (a final report that arrived late),
 * then GitHub (the run the job recorded, or the one whose title names the job), and for a run that succeeded Hetzner
 * (the server labelled with the job) and Tailscale (the device named after it). Reads only. Used by CheckRun; anything
 * else about to give up on a live job (the sweeper) asks the same before it rolls back (invariant I4).
 */
import type { ApiTargets } from './api-config.ts';
import { findWorkflowRunOfJob, getWorkflowRun, runSearchStart } from './clients/github.ts';
import { serversOfJob } from './clients/hetzner.ts';
import { deviceOfJob } from './clients/tailscale.ts';
import type { JobRecord } from './repository.ts';
import { JOB_NOT_FOUND, outcomeFromJob, outcomeOfSucceededRun, verdictOfRun, type RunOutcome } from './run-outcome.ts';

/**
 * @param apis the APIs to ask, each built only when the job alone does not decide (no token is read before)
 * @throws ApiUnavailableError when an API keeps failing, Error for any other failed answer
 */
export async function howRunEnded(jobId: string, job: JobRecord | undefined, apis: ApiTargets): Promise<RunOutcome> {
  if (job === undefined) return JOB_NOT_FOUND;
  const fromJob = outcomeFromJob(job);
  if (fromJob !== undefined) return fromJob;

  const github = await apis.github();
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

  const [servers, device] = await Promise.all([
    apis.hetzner().then((hetzner) => serversOfJob(hetzner, jobId)),
    apis.tailscale().then((tailscale) => deviceOfJob(tailscale, jobId)),
  ]);
  return outcomeOfSucceededRun(job.vm, servers, device);
}
