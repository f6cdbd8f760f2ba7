/** Hetzner Cloud servers of provisioning jobs: found by their `job_id` label, deleted (404 = already gone). */
import { apiMessage, callApi } from './api-client.ts';

export interface HetznerTarget {
  /** e.g. `https://api.hetzner.cloud/v1` */
  readonly apiUrl: string;
  readonly token: string;
}

export interface LabelledServer {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The public IPv4 address, when it has one. */
  readonly ipv4?: string;
}

const PER_PAGE = 50;

/** Every server matching a Hetzner label selector (`job_id=abc`, or `job_id` for any job), across pages. */
export async function serversMatching(target: HetznerTarget, labelSelector: string): Promise<LabelledServer[]> {
  const servers: LabelledServer[] = [];
  for (let page: number | null = 1; page !== null; ) {
    const query = new URLSearchParams({
      label_selector: labelSelector,
      page: String(page),
      per_page: String(PER_PAGE),
    });
    const response = await callApi({
      method: 'GET',
      url: `${target.apiUrl.replace(/\/$/, '')}/servers?${query}`,
      token: target.token,
    });
    if (response.status !== 200) {
      throw new Error(
        `Listing Hetzner servers failed (HTTP ${response.status}): ${apiMessage(response.body, 'no reason given')}`,
      );
    }
    const body = response.body as {
      servers?: { id: number; labels?: Record<string, string>; public_net?: { ipv4?: { ip?: string } | null } }[];
      meta?: { pagination?: { next_page?: number | null } };
    };
    for (const server of body.servers ?? []) {
      const ipv4 = server.public_net?.ipv4?.ip;
      servers.push({ id: String(server.id), labels: server.labels ?? {}, ...(ipv4 === undefined ? {} : { ipv4 }) });
    }
    page = body.meta?.pagination?.next_page ?? null;
  }
  return servers;
}

/** The servers labelled with this job's id. */
export function serversOfJob(target: HetznerTarget, jobId: string): Promise<LabelledServer[]> {
  return serversMatching(target, `job_id=${jobId}`);
}

/**
 * Deletes a server.
 * @returns false when it was already gone
 */
export async function deleteServer(target: HetznerTarget, serverId: string): Promise<boolean> {
  const response = await callApi({
    method: 'DELETE',
    url: `${target.apiUrl.replace(/\/$/, '')}/servers/${encodeURIComponent(serverId)}`,
    token: target.token,
  });
  if (response.status === 404) return false;
  if (response.status >= 400) {
    throw new Error(
      `Deleting Hetzner server ${serverId} failed (HTTP ${response.status}): ${apiMessage(response.body, 'no reason given')}`,
    );
  }
  return true;
}
