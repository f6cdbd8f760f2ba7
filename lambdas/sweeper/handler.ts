/** Sweeper (scheduled every 15 minutes): repairs agents past their deadline and deletes what finished jobs left; see sweep.ts. */
import * as z from '../domain/zod-mini.ts';
import { loadConfig } from '../shared/config.ts';
import { secretValue } from '../shared/secrets.ts';
import { taskHandler } from '../shared/task-handler.ts';
import { sweep, type SweepResult } from './sweep.ts';

const config = loadConfig({
  TABLE_NAME: z.string().check(z.minLength(1)),
  PROVISION_STATE_MACHINE_ARN: z.string().check(z.startsWith('arn:')),
  LIFECYCLE_STATE_MACHINE_ARN: z.string().check(z.startsWith('arn:')),
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

/** The schedule's event carries nothing the sweep needs. */
export const handler = taskHandler(
  z.unknown(),
  async (): Promise<SweepResult> =>
    sweep({
      stateMachines: { provision: config.PROVISION_STATE_MACHINE_ARN, lifecycle: config.LIFECYCLE_STATE_MACHINE_ARN },
      github: {
        apiUrl: config.GITHUB_API_URL,
        repository: config.GITHUB_REPOSITORY,
        workflowFile: config.GITHUB_WORKFLOW_FILE,
        token: await secretValue(config.GITHUB_TOKEN_SECRET_ID),
      },
      hetzner: { apiUrl: config.HETZNER_API_URL, token: await secretValue(config.HETZNER_TOKEN_SECRET_ID) },
      tailscale: {
        apiUrl: config.TAILSCALE_API_URL,
        tailnet: config.TAILSCALE_TAILNET,
        token: await secretValue(config.TAILSCALE_TOKEN_SECRET_ID),
      },
    }),
);
