/** Sweeper (scheduled every 15 minutes): settles what lost executions left behind; see sweep.ts. */
import * as z from '../domain/zod-mini.ts';
import { loadConfig, seconds } from '../shared/config.ts';
import { secretValue } from '../shared/secrets.ts';
import { sweep, type SweepResult } from './sweep.ts';

const config = loadConfig({
  TABLE_NAME: z.string().check(z.minLength(1)),
  PROVISION_STATE_MACHINE_ARN: z.string().check(z.startsWith('arn:')),
  HETZNER_TOKEN_SECRET_ID: z.string().check(z.minLength(1)),
  HETZNER_API_URL: z._default(z.url(), 'https://api.hetzner.cloud/v1'),
  START_TIMEOUT_SECONDS: seconds(900),
  HEARTBEAT_TIMEOUT_SECONDS: seconds(180),
  COMPLETION_TIMEOUT_SECONDS: seconds(2700),
});

export const handler = async (): Promise<SweepResult> =>
  sweep({
    stateMachineArn: config.PROVISION_STATE_MACHINE_ARN,
    hetzner: { apiUrl: config.HETZNER_API_URL, token: await secretValue(config.HETZNER_TOKEN_SECRET_ID) },
    timeouts: {
      startSeconds: config.START_TIMEOUT_SECONDS,
      heartbeatSeconds: config.HEARTBEAT_TIMEOUT_SECONDS,
      completionSeconds: config.COMPLETION_TIMEOUT_SECONDS,
    },
  });
