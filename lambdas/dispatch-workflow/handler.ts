/**
 * AwaitStart's task: stores the start token, then dispatches the workflow, never twice for one job.
 * See docs/ARCHITECTURE.md, "Step Functions".
 */
import { agentId, jobId, region } from '../domain/schemas.ts';
import * as z from '../domain/zod-mini.ts';
import { githubConfig, githubTarget } from '../shared/api-config.ts';
import { loadConfig, nonEmpty, tableConfig } from '../shared/config.ts';
import { logger } from '../shared/logger.ts';
import { taskHandler } from '../shared/task-handler.ts';
import { recordJobEvent } from '../shared/job-writer.ts';
import { getAgent, storeTaskToken } from '../shared/repository.ts';
import { DispatchRefusedError, dispatchWorkflow } from '../shared/clients/github.ts';

const config = loadConfig({
  ...tableConfig,
  ...githubConfig,
  GITHUB_REF: z._default(nonEmpty(), 'main'),
  CALLBACK_URL: z.url(),
});
const githubApi = githubTarget(config);

const dispatchInput = z.object({ taskToken: nonEmpty(), jobId, agentId, region });

export interface DispatchResult {
  /** False when an earlier attempt of this state already dispatched the run (the state was retried). */
  dispatched: boolean;
  workflowRunId?: string;
}

export const handler = taskHandler(dispatchInput, async (input): Promise<DispatchResult> => {
  const job = await storeTaskToken(input.jobId, 'start', input.taskToken);
  if (job.workflowRunId !== undefined) {
    logger.info('Workflow already dispatched; the new token is stored', { workflowRunId: job.workflowRunId });
    return { dispatched: false, workflowRunId: job.workflowRunId };
  }
  const agent = await getAgent(input.agentId);
  if (agent === undefined) throw new DispatchRefusedError(`Agent ${input.agentId} does not exist`);

  const github = await githubApi();
  const run = await dispatchWorkflow(github, {
    workflowFile: github.workflowFile,
    ref: config.GITHUB_REF,
    jobId: input.jobId,
    inputs: {
      agent_id: input.agentId,
      agent_name: agent.name,
      region: input.region,
      callback_url: config.CALLBACK_URL,
    },
  });
  if (run.workflowRunId !== undefined) await keepWorkflowRun(input.jobId, { ...run, workflowRunId: run.workflowRunId });
  logger.info('Workflow dispatched', { ...run });
  return { dispatched: true, ...(run.workflowRunId === undefined ? {} : { workflowRunId: run.workflowRunId }) };
});

/**
 * Records the run GitHub created on the job, as an update people see at once (the dashboard links to the run while the
 * job is queued), or logs why not: it never throws (see above). Losing this write costs little, because the
 * workflow's first `provisioning` callback reports its run too, and that one is recorded with the callback's retries
 * behind it.
 */
async function keepWorkflowRun(id: string, run: { workflowRunId: string; workflowRunUrl?: string }): Promise<void> {
  try {
    await recordJobEvent(id, { kind: 'dispatched', ...run }, 'state-machine');
  } catch (error) {
    logger.warn('Could not store the dispatched run; the workflow reports it in its first callback', { error, ...run });
  }
}
