/**
 * CheckRun (provisioning state machine task): before anything is rolled back, asks how the job's workflow run ended,
 * because a wait that timed out or an activation that failed says nothing about the VM: its reports may just have
 * been lost. The job's own record first (a final report that arrived late), then GitHub (the run the job recorded, or
 * the one whose title names the job), and for a run that succeeded Hetzner (the server labelled with the job) and
 * Tailscale (the device named after it). Reads only; the state machine activates, waits and asks again, or rolls
 * back by the verdict (lambdas/check-run/run-outcome.ts). GitHub, Hetzner or Tailscale unreachable: it throws
 * (`ApiUnavailable`), and the state retries it.
 */
import { jobId } from '../domain/schemas.ts';
import * as z from '../domain/zod-mini.ts';
import { findWorkflowRunOfJob, getWorkflowRun, runSearchStart } from '../rollback/github.ts';
import { serversOfJob } from '../rollback/hetzner.ts';
import { deviceOfJob } from '../rollback/tailscale.ts';
import { loadConfig } from '../shared/config.ts';
import { logger } from '../shared/logger.ts';
import { getJob, type JobRecord } from '../shared/repository.ts';
import { secretValue } from '../shared/secrets.ts';
import { JOB_NOT_FOUND, outcomeFromJob, outcomeOfSucceededRun, verdictOfRun, type RunOutcome } from './run-outcome.ts';

const config = loadConfig({
  TABLE_NAME: z.string().check(z.minLength(1)),
  GITHUB_TOKEN_SECRET_ID: z.string().check(z.minLength(1)),
  GITHUB_API_URL: z._default(z.url(), 'https://api.github.com'),
  GITHUB_REPOSITORY: z.string().check(z.regex(/^[\w.-]+\/[\w.-]+$/)),
  GITHUB_WORKFLOW_FILE: z._default(z.string().check(z.minLength(1)), 'provision-agent.yml'),
  HETZNER_TOKEN_SECRET_ID: z.string().check(z.minLength(1)),
  HETZNER_API_URL: z._default(z.url(), 'https://api.hetzner.cloud/v1'),
  TAILSCALE_TOKEN_SECRET_ID: z.string().check(z.minLength(1)),
  TAILSCALE_API_URL: z._default(z.url(), 'https://api.tailscale.com/api/v2'),
  TAILSCALE_TAILNET: z._default(z.string().check(z.minLength(1)), '-'),
});

const checkInput = z.object({ jobId });

export const handler = async (event: unknown): Promise<RunOutcome> => {
  const { jobId: id } = checkInput.parse(event);
  logger.appendKeys({ jobId: id });
  const job = await getJob(id);
  const outcome = job === undefined ? JOB_NOT_FOUND : (outcomeFromJob(job) ?? (await askGithub(id, job)));
  logger.info('Asked how the run ended', { verdict: outcome.verdict, reason: outcome.reason });
  return outcome;
};

async function askGithub(id: string, job: JobRecord): Promise<RunOutcome> {
  const github = { apiUrl: config.GITHUB_API_URL, repository: config.GITHUB_REPOSITORY, token: await secretValue(config.GITHUB_TOKEN_SECRET_ID) };
  const runId =
    job.workflowRunId ??
    (await findWorkflowRunOfJob(github, { workflowFile: config.GITHUB_WORKFLOW_FILE, jobId: id, createdSince: runSearchStart(Date.parse(job.createdAt)) }))
      ?.workflowRunId;
  const run = runId === undefined ? undefined : await getWorkflowRun(github, runId);
  const { verdict, reason } = verdictOfRun(run);
  if (verdict !== 'succeeded') return { verdict, vm: {}, reason };

  const [servers, device] = await Promise.all([
    serversOfJob({ apiUrl: config.HETZNER_API_URL, token: await secretValue(config.HETZNER_TOKEN_SECRET_ID) }, id),
    deviceOfJob(
      { apiUrl: config.TAILSCALE_API_URL, tailnet: config.TAILSCALE_TAILNET, token: await secretValue(config.TAILSCALE_TOKEN_SECRET_ID) },
      id,
    ),
  ]);
  return outcomeOfSucceededRun(job.vm, servers, device);
}
