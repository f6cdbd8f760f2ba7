/** Tailscale devices of provisioning jobs: found by id or by the job's hostname, deleted (404 = already gone). */
import { apiMessage, callApi } from './api-client.ts';

export interface TailscaleTarget {
  /** e.g. `https://api.tailscale.com/api/v2` */
  readonly apiUrl: string;
  /** `-` is the token's own tailnet. */
  readonly tailnet: string;
  readonly token: string;
}

/**
 * The hostname fragment the provisioning workflow gives a job's machine (`agent-<job id, lowercase, "_" as "-">`),
 * so a device is found even when the callback that carried its id was lost.
 */
export function hostnameFragmentOf(jobId: string): string {
  return jobId.toLowerCase().replaceAll('_', '-');
}

const JOB_IN_HOSTNAME = /job-([0-9a-hjkmnp-tv-z]{26})/i;

/** The job id a device's hostname carries ({@link hostnameFragmentOf} reversed), if any. */
export function jobIdOfHostname(hostname: string): string | undefined {
  const ulid = JOB_IN_HOSTNAME.exec(hostname)?.[1];
  return ulid === undefined ? undefined : `job_${ulid.toUpperCase()}`;
}

export interface TailnetDevice {
  readonly id: string;
  readonly nodeId?: string;
  readonly hostname?: string;
  readonly addresses?: string[];
  readonly created?: string;
}

/** Every device of the tailnet. */
export async function listDevices(target: TailscaleTarget): Promise<TailnetDevice[]> {
  const response = await callApi({
    method: 'GET',
    url: `${target.apiUrl.replace(/\/$/, '')}/tailnet/${encodeURIComponent(target.tailnet)}/devices`,
    token: target.token,
  });
  if (response.status !== 200) {
    throw new Error(
      `Listing Tailscale devices failed (HTTP ${response.status}): ${apiMessage(response.body, 'no reason given')}`,
    );
  }
  return (response.body as { devices?: TailnetDevice[] }).devices ?? [];
}

/** The tailnet's devices whose hostname carries the job id. */
async function devicesNamedFor(target: TailscaleTarget, jobId: string): Promise<TailnetDevice[]> {
  const fragment = hostnameFragmentOf(jobId);
  return (await listDevices(target)).filter((device) => device.hostname?.toLowerCase().includes(fragment));
}

/** Ids of the tailnet's devices whose hostname carries the job id. */
export async function devicesOfJob(target: TailscaleTarget, jobId: string): Promise<string[]> {
  return (await devicesNamedFor(target, jobId)).map((device) => device.id);
}

/**
 * The machine a job's workflow joined to the tailnet (`agent-<job id>`, the newest if it joined twice), as the workflow
 * reports it: the device's `nodeId` and its Tailscale IPv4 address.
 */
export async function deviceOfJob(
  target: TailscaleTarget,
  jobId: string,
): Promise<{ deviceId: string; tailscaleIp?: string } | undefined> {
  const hostname = `agent-${hostnameFragmentOf(jobId)}`;
  const device = (await devicesNamedFor(target, jobId))
    .filter((candidate) => candidate.hostname?.toLowerCase() === hostname)
    .sort((a, b) => (a.created ?? '').localeCompare(b.created ?? ''))
    .at(-1);
  if (device === undefined) return undefined;
  const tailscaleIp = device.addresses?.find((address) => address.includes('.'));
  return { deviceId: device.nodeId ?? device.id, ...(tailscaleIp === undefined ? {} : { tailscaleIp }) };
}

/**
 * Deletes a device.
 * @returns false when it was already gone
 */
export async function deleteDevice(target: TailscaleTarget, deviceId: string): Promise<boolean> {
  const response = await callApi({
    method: 'DELETE',
    url: `${target.apiUrl.replace(/\/$/, '')}/device/${encodeURIComponent(deviceId)}`,
    token: target.token,
  });
  if (response.status === 404) return false;
  if (response.status >= 400) {
    throw new Error(
      `Deleting Tailscale device ${deviceId} failed (HTTP ${response.status}): ${apiMessage(response.body, 'no reason given')}`,
    );
  }
  return true;
}
