/**
 * Rollback's task: removes what a failed job may have left, found by its job id even when callbacks were lost.
 * See docs/ARCHITECTURE.md, "Step Functions".
 */
import { jobId } from '../domain/schemas.ts';
import * as z from '../domain/zod-mini.ts';
import { apiTargets, githubConfig, hetznerConfig, tailscaleConfig } from '../shared/api-config.ts';
import { loadConfig, tableConfig } from '../shared/config.ts';
import { logger } from '../shared/logger.ts';
import { getJob, type JobRecord } from '../shared/repository.ts';
import { cancelWorkflowRun, findWorkflowRunOfJob, runSearchStart } from '../shared/clients/github.ts';
import { deleteServer, serversOfJob } from '../shared/clients/hetzner.ts';
import { deleteDevice, devicesOfJob } from '../shared/clients/tailscale.ts';
import { taskHandler } from '../shared/task-handler.ts';
import { ERROR_NAMES } from '../domain/error-names.ts';

const apis = apiTargets(loadConfig({ ...tableConfig, ...githubConfig, ...hetznerConfig, ...tailscaleConfig }));

const rollbackInput = z.object({ jobId });

/** What was removed (ids); the state machine keeps it in its history. */
export interface RollbackResult {
  deleted: { workflowRun?: string; servers: string[]; devices: string[] };
}

/** One or more resources could not be removed; the message lists which (no secrets). */
export class RollbackIncompleteError extends Error {
  override readonly name = ERROR_NAMES.RollbackIncomplete;
}

export const handler = taskHandler(rollbackInput, async ({ jobId: id }): Promise<RollbackResult> => {
  const job = await getJob(id);

  const [workflowRun, servers, devices] = await Promise.allSettled([
    cancelRun(id, job),
    deleteServers(id, job?.vm.serverId),
    deleteDevices(id, job?.vm.tailscaleDeviceId),
  ]);
  const failures = [workflowRun, servers, devices].flatMap((settled) =>
    settled.status === 'rejected'
      ? [settled.reason instanceof Error ? settled.reason.message : String(settled.reason)]
      : [],
  );
  if (failures.length > 0) {
    logger.error('Rollback incomplete', { failures });
    throw new RollbackIncompleteError(`Rollback of job ${id} incomplete: ${failures.join('; ')}`);
  }
  const result: RollbackResult = {
    deleted: {
      ...(workflowRun.status === 'fulfilled' && workflowRun.value !== undefined
        ? { workflowRun: workflowRun.value }
        : {}),
      servers: servers.status === 'fulfilled' ? servers.value : [],
      devices: devices.status === 'fulfilled' ? devices.value : [],
    },
  };
  logger.info('Rolled back', { ...result });
  return result;
});

/** @returns the run id when a cancellation was requested */
async function cancelRun(id: string, job: JobRecord | undefined): Promise<string | undefined> {
  if (job === undefined) return undefined;
  const target = await apis.github();
  // No run can be older than its job.
  const createdSince = runSearchStart(Date.parse(job.createdAt));
  const runId =
    job.workflowRunId ??
    (await findWorkflowRunOfJob(target, { workflowFile: target.workflowFile, jobId: id, createdSince }))?.workflowRunId;
  if (runId === undefined) return undefined;
  return (await cancelWorkflowRun(target, runId)) ? runId : undefined;
}

/** @returns ids of the servers deleted now */
async function deleteServers(id: string, recordedServerId: string | undefined): Promise<string[]> {
  const target = await apis.hetzner();
  const labelled = (await serversOfJob(target, id)).map((server) => server.id);
  return deleteAll([...labelled, ...(recordedServerId === undefined ? [] : [recordedServerId])], (serverId) =>
    deleteServer(target, serverId),
  );
}

/** @returns ids of the devices deleted now */
async function deleteDevices(id: string, recordedDeviceId: string | undefined): Promise<string[]> {
  const target = await apis.tailscale();
  const found = await devicesOfJob(target, id);
  return deleteAll([...(recordedDeviceId === undefined ? [] : [recordedDeviceId]), ...found], (deviceId) =>
    deleteDevice(target, deviceId),
  );
}

/** Deletes each id once, one after the other (404s are fine); returns the ids actually deleted. */
async function deleteAll(ids: string[], remove: (id: string) => Promise<boolean>): Promise<string[]> {
  const deleted: string[] = [];
  for (const id of new Set(ids)) {
    if (await remove(id)) deleted.push(id);
  }
  return deleted;
}
