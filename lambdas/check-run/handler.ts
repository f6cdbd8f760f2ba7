/**
 * CheckRun (provisioning state machine task): before anything is rolled back, asks how the job's workflow run ended
 * (shared/how-run-ended.ts), because a wait that timed out or an activation that failed says nothing about the VM: its
 * reports may just have been lost. Reads only; the state machine activates, waits and asks again, or rolls back by the
 * verdict (shared/run-outcome.ts). GitHub, Hetzner or Tailscale unreachable: it throws (`ApiUnavailable`), and the
 * state retries it.
 */
import { jobId } from '../domain/schemas.ts';
import * as z from '../domain/zod-mini.ts';
import { apiTargets, githubConfig, hetznerConfig, tailscaleConfig } from '../shared/api-config.ts';
import { loadConfig, tableConfig } from '../shared/config.ts';
import { logger } from '../shared/logger.ts';
import { getJob } from '../shared/repository.ts';
import { howRunEnded } from '../shared/how-run-ended.ts';
import type { RunOutcome } from '../shared/run-outcome.ts';
import { taskHandler } from '../shared/task-handler.ts';

const apis = apiTargets(loadConfig({ ...tableConfig, ...githubConfig, ...hetznerConfig, ...tailscaleConfig }));

export const handler = taskHandler(z.object({ jobId }), async ({ jobId: id }): Promise<RunOutcome> => {
  const outcome = await howRunEnded(id, await getJob(id), apis);
  logger.info('Asked how the run ended', { verdict: outcome.verdict, reason: outcome.reason });
  return outcome;
});
