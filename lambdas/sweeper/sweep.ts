/**
 * What a lost or cut-short execution can leave behind, found and settled:
 * - live jobs older than `minAgeSeconds` whose execution never started are started now (a paid job is better
 *   provisioned late than failed; the execution name is the job id, so this never starts two), and live jobs whose
 *   execution ended without settling them are failed;
 * - Hetzner servers labelled with a job that failed or whose agent is destroyed are deleted.
 */
import { DescribeExecutionCommand, ExecutionAlreadyExists, ExecutionDoesNotExist, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { paginateScan } from '@aws-sdk/lib-dynamodb';
import type { ProvisionInput } from '../domain/schemas.ts';
import { dynamo } from '../shared/clients/dynamodb.ts';
import { sfn } from '../shared/clients/sfn.ts';
import { recordJobEvent } from '../shared/job-writer.ts';
import { logger } from '../shared/logger.ts';
import { LIVE_JOB_STATUSES, getAgent, getJob, tableName, type JobRecord } from '../shared/repository.ts';
import { deleteServer, serversMatching, type HetznerTarget } from '../rollback/hetzner.ts';

export interface SweepSettings {
  readonly stateMachineArn: string;
  readonly hetzner: HetznerTarget;
  readonly timeouts: ProvisionInput['timeouts'];
  /** Jobs not updated for this long are looked at. @default 600 */
  readonly minAgeSeconds?: number;
}

export interface SweepResult {
  startedJobs: string[];
  failedJobs: string[];
  deletedServers: string[];
}

const ACTOR = 'sweeper';

type LiveJob = Pick<JobRecord, 'jobId' | 'agentId' | 'userId' | 'region' | 'status'>;

/** Runs both passes; one item's failure does not stop the others, and fails the run at the end. */
export async function sweep(settings: SweepSettings, now: Date = new Date()): Promise<SweepResult> {
  const result: SweepResult = { startedJobs: [], failedJobs: [], deletedServers: [] };
  const errors: string[] = [];
  const attempt = async (what: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      logger.error(`Sweeper could not settle ${what}`, { error });
      errors.push(what);
    }
  };

  const cutoff = new Date(now.getTime() - (settings.minAgeSeconds ?? 600) * 1000).toISOString();
  for (const job of await liveJobsNotUpdatedSince(cutoff)) {
    await attempt(`job ${job.jobId}`, async () => {
      const settled = await settleLiveJob(settings, job);
      if (settled === 'started') result.startedJobs.push(job.jobId);
      if (settled === 'failed') result.failedJobs.push(job.jobId);
    });
  }

  // After the job pass, so servers of jobs it just failed go in the same run.
  const servers = await serversMatching(settings.hetzner, 'job_id');
  for (const server of servers) {
    await attempt(`server ${server.id}`, async () => {
      if (!(await isAbandoned(server.labels.job_id ?? ''))) return;
      if (await deleteServer(settings.hetzner, server.id)) result.deletedServers.push(server.id);
    });
  }

  logger.info('Sweep done', { ...result });
  if (errors.length > 0) throw new Error(`Sweeper could not settle: ${errors.join(', ')}`);
  return result;
}

async function settleLiveJob(settings: SweepSettings, job: LiveJob): Promise<'started' | 'failed' | 'running'> {
  const executionArn = `${settings.stateMachineArn.replace(':stateMachine:', ':execution:')}:${job.jobId}`;
  let status: string | undefined;
  try {
    ({ status } = await sfn.send(new DescribeExecutionCommand({ executionArn })));
  } catch (error) {
    if (!(error instanceof ExecutionDoesNotExist)) throw error;
  }
  if (status === 'RUNNING') return 'running';

  if (status === undefined && job.status === 'queued') {
    const input: ProvisionInput = { jobId: job.jobId, agentId: job.agentId, userId: job.userId, region: job.region as ProvisionInput['region'], timeouts: settings.timeouts };
    try {
      await sfn.send(new StartExecutionCommand({ stateMachineArn: settings.stateMachineArn, name: job.jobId, input: JSON.stringify(input) }));
    } catch (error) {
      // Started meanwhile by the webhook's own retry: that execution settles the job.
      if (!(error instanceof ExecutionAlreadyExists)) throw error;
    }
    logger.info('Started the execution a queued job never got', { jobId: job.jobId });
    return 'started';
  }

  const error =
    status === undefined
      ? 'provisioning was interrupted and cannot resume; retry to start again'
      : `provisioning stopped unexpectedly (execution ${status.toLowerCase()})`;
  await recordJobEvent(job.jobId, { kind: 'failed', error }, ACTOR);
  logger.warn('Failed a job its execution left live', { jobId: job.jobId, executionStatus: status ?? 'missing' });
  return 'failed';
}

/** A server is abandoned when its job failed or its agent is destroyed; an unknown job may be another stack's. */
async function isAbandoned(jobId: string): Promise<boolean> {
  const job = jobId === '' ? undefined : await getJob(jobId);
  if (job === undefined) return false;
  if (job.status === 'failed') return true;
  return (await getAgent(job.agentId))?.agentStatus === 'destroyed';
}

/**
 * Live jobs not updated since `cutoff`. A filtered Scan: the sweeper runs every 15 minutes and the table holds few
 * jobs per agent; a sparse index on live jobs would replace it at scale.
 */
async function liveJobsNotUpdatedSince(cutoff: string): Promise<LiveJob[]> {
  const jobs: LiveJob[] = [];
  const pages = paginateScan(
    { client: dynamo },
    {
      TableName: tableName(),
      FilterExpression: 'entity = :job AND #status IN (:queued, :provisioning) AND updatedAt < :cutoff',
      ProjectionExpression: 'jobId, agentId, userId, #region, #status',
      ExpressionAttributeNames: { '#status': 'status', '#region': 'region' },
      ExpressionAttributeValues: { ':job': 'job', ':queued': LIVE_JOB_STATUSES[0], ':provisioning': LIVE_JOB_STATUSES[1], ':cutoff': cutoff },
    },
  );
  for await (const page of pages) jobs.push(...((page.Items ?? []) as LiveJob[]));
  return jobs;
}
