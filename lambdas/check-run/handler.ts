/**
 * CheckRun (provisioning state machine task): before anything is rolled back, asks how the job's workflow run ended
 * (shared/how-run-ended.ts), because a wait that timed out or an activation that failed says nothing about the VM: its
 * reports may just have been lost. Reads only; the state machine activates, waits and asks again, or rolls back by the
 * verdict (shared/run-outcome.ts). GitHub, Hetzner or Tailscale unreachable: it throws (`ApiUnavailable`), and the
 * state retries it.
 */
import { jobId } from '../domain/schemas.ts';
import * as z from '../domain/zod-mini.ts';
import { loadConfig } from '../shared/config.ts';
import { logger } from '../shared/logger.ts';
import { getJob } from '../shared/repository.ts';
import { secretValue } from '../shared/secrets.ts';
import { howRunEnded, type RunSources } from '../shared/how-run-ended.ts';
import type { RunOutcome } from '../shared/run-outcome.ts';
import { taskHandler } from '../shared/task-handler.ts';

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

const sources = async (): Promise<RunSources> => {
  const [githubToken, hetznerToken, tailscaleToken] = await Promise.all([
    secretValue(config.GITHUB_TOKEN_SECRET_ID),
    secretValue(config.HETZNER_TOKEN_SECRET_ID),
    secretValue(config.TAILSCALE_TOKEN_SECRET_ID),
  ]);
  return {
    github: {
      apiUrl: config.GITHUB_API_URL,
      repository: config.GITHUB_REPOSITORY,
      workflowFile: config.GITHUB_WORKFLOW_FILE,
      token: githubToken,
    },
    hetzner: { apiUrl: config.HETZNER_API_URL, token: hetznerToken },
    tailscale: { apiUrl: config.TAILSCALE_API_URL, tailnet: config.TAILSCALE_TAILNET, token: tailscaleToken },
  };
};

export const handler = taskHandler(checkInput, async ({ jobId: id }): Promise<RunOutcome> => {
  const outcome = await howRunEnded(id, await getJob(id), sources);
  logger.info('Asked how the run ended', { verdict: outcome.verdict, reason: outcome.reason });
  return outcome;
});
