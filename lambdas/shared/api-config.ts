/**
 * The settings of the external APIs the pipeline cleans up and asks (GitHub, Hetzner, Tailscale), and the targets built
 * from them. A target reads its token (Secrets Manager, cached by ./secrets.ts) only when it is asked for, so an
 * invocation that calls no API reads no token.
 */
import type { GithubTarget } from './clients/github.ts';
import type { HetznerTarget } from './clients/hetzner.ts';
import type { TailscaleTarget } from './clients/tailscale.ts';
import * as z from '../domain/zod-mini.ts';
import { nonEmpty, type Loaded } from './config.ts';
import { secretValue } from './secrets.ts';

export const githubConfig = {
  GITHUB_TOKEN_SECRET_ID: nonEmpty(),
  GITHUB_API_URL: z._default(z.url(), 'https://api.github.com'),
  GITHUB_REPOSITORY: z.string().check(z.regex(/^[\w.-]+\/[\w.-]+$/)),
  GITHUB_WORKFLOW_FILE: z._default(nonEmpty(), 'provision-agent.yml'),
};

export const hetznerConfig = {
  HETZNER_TOKEN_SECRET_ID: nonEmpty(),
  HETZNER_API_URL: z._default(z.url(), 'https://api.hetzner.cloud/v1'),
};

export const tailscaleConfig = {
  TAILSCALE_TOKEN_SECRET_ID: nonEmpty(),
  TAILSCALE_API_URL: z._default(z.url(), 'https://api.tailscale.com/api/v2'),
  TAILSCALE_TAILNET: z._default(nonEmpty(), '-'),
};

/** The provisioning workflow's repository, and the workflow file its runs are found by. */
export type GithubSource = GithubTarget & { readonly workflowFile: string };

/** An API's target, built (its token read) when first asked for in an invocation. */
export type LazyTarget<Target> = () => Promise<Target>;

/** The three APIs a job's resources are found and removed through. */
export interface ApiTargets {
  readonly github: LazyTarget<GithubSource>;
  readonly hetzner: LazyTarget<HetznerTarget>;
  readonly tailscale: LazyTarget<TailscaleTarget>;
}

export const githubTarget =
  (config: Loaded<typeof githubConfig>): LazyTarget<GithubSource> =>
  async () => ({
    apiUrl: config.GITHUB_API_URL,
    repository: config.GITHUB_REPOSITORY,
    workflowFile: config.GITHUB_WORKFLOW_FILE,
    token: await secretValue(config.GITHUB_TOKEN_SECRET_ID),
  });

export const hetznerTarget =
  (config: Loaded<typeof hetznerConfig>): LazyTarget<HetznerTarget> =>
  async () => ({ apiUrl: config.HETZNER_API_URL, token: await secretValue(config.HETZNER_TOKEN_SECRET_ID) });

export const tailscaleTarget =
  (config: Loaded<typeof tailscaleConfig>): LazyTarget<TailscaleTarget> =>
  async () => ({
    apiUrl: config.TAILSCALE_API_URL,
    tailnet: config.TAILSCALE_TAILNET,
    token: await secretValue(config.TAILSCALE_TOKEN_SECRET_ID),
  });

export const apiTargets = (
  config: Loaded<typeof githubConfig & typeof hetznerConfig & typeof tailscaleConfig>,
): ApiTargets => ({ github: githubTarget(config), hetzner: hetznerTarget(config), tailscale: tailscaleTarget(config) });
