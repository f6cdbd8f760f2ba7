/**
 * A webhook function whose secret is in the wrong format (CALLBACK_HMAC_SECRET=some-text, a Stripe webhook secret that
 * is not `whsec_...`): every request is answered 503 `configuration_error`, not as the caller's fault; the problem is
 * logged once per container, without the value, and counted for its alarm on each request. The secrets come from the
 * local Secrets Manager endpoint, as in AWS.
 */
import { signCallback } from '../../../.github/scripts/callback.mjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalStepFunctions } from '../../../local/stepfunctions.ts';
import { startAwsServices, type AwsServices } from '../../../local/aws-services.ts';
import { outputOf } from '../../support/console-output.ts';
import { httpApiEvent, lambdaContext } from '../../support/events.ts';
import { stripeSignature } from '../../support/stripe-events.ts';

const MALFORMED_CALLBACK_SECRET = 'some-text';
const MALFORMED_STRIPE_SECRET = 'not-a-signing-secret';

let services: AwsServices;
beforeAll(async () => {
  services = await startAwsServices({
    secrets: { 'callback-secret': MALFORMED_CALLBACK_SECRET, 'stripe-webhook-secret': MALFORMED_STRIPE_SECRET },
    stepFunctions: new LocalStepFunctions({ definitions: {}, functions: {} }),
  });
  vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', services.url);
  vi.stubEnv('TABLE_NAME', 'misconfigured-secrets');
  vi.stubEnv('POWERTOOLS_METRICS_NAMESPACE', 'AgentPipeline');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await services.stop();
});

/** The JSON lines written while `run` runs: log lines and EMF records apart. */
async function linesOf(run: () => unknown) {
  const lines = (await outputOf(run)).map((line) => JSON.parse(line) as Record<string, any>);
  return {
    logs: lines.filter((line) => line._aws === undefined),
    metrics: lines.filter((line) => line._aws !== undefined),
  };
}

const metricNames = (records: Record<string, any>[]) =>
  records.flatMap((record) => record._aws.CloudWatchMetrics[0].Metrics.map((metric: { Name: string }) => metric.Name));

/** A fresh copy of a function's modules (its config is read at load), run as `service` with `environment`. */
async function loadFunction<Module>(service: string, environment: Record<string, string>, load: () => Promise<Module>) {
  vi.resetModules();
  vi.stubEnv('POWERTOOLS_SERVICE_NAME', service);
  for (const [name, value] of Object.entries(environment)) vi.stubEnv(name, value);
  return load();
}

describe('github-callback with a callback secret that is not a Standard Webhooks secret', () => {
  type Handler = typeof import('../../../lambdas/github-callback/handler.ts').handler;
  let handler: Handler;
  beforeAll(async () => {
    ({ handler } = await loadFunction(
      'github-callback',
      { CALLBACK_SECRET_ID: 'callback-secret' },
      () => import('../../../lambdas/github-callback/handler.ts'),
    ));
  });

  const callback = (body: string, headers: Record<string, string>) =>
    handler(
      httpApiEvent({ routeKey: 'POST /callbacks/github', body, headers }),
      lambdaContext('github-callback'),
    ) as Promise<{ statusCode: number; body: string }>;

  it('answers every callback 503 configuration_error, signed or not, logs the problem once and counts each', async () => {
    const body = '{"type":"heartbeat","job_id":"job_1"}';
    // Signed with a well-formed secret: no request can pass while the endpoint's own secret is malformed.
    const signed = signCallback(
      `whsec_${Buffer.alloc(32, 7).toString('base64')}`,
      'job_1:heartbeat:1',
      body,
      Date.now() / 1000,
    );
    const { logs, metrics } = await linesOf(async () => {
      for (const headers of [{}, signed, {}]) {
        const response = await callback(body, headers);
        expect(response.statusCode).toBe(503);
        expect(JSON.parse(response.body)).toEqual({
          error: { code: 'configuration_error', message: expect.stringContaining('misconfigured') },
        });
      }
    });

    const errors = logs.filter((line) => line.level === 'ERROR');
    expect(errors).toEqual([
      expect.objectContaining({
        message: 'Configuration error',
        setting: 'CALLBACK_SECRET_ID',
        problem: expect.stringContaining('"whsec_" + base64 of 24 to 64 bytes'),
      }),
    ]);
    expect(JSON.stringify(logs)).not.toContain(MALFORMED_CALLBACK_SECRET);
    expect(metricNames(metrics)).toEqual(['CallbackSecretInvalid', 'CallbackSecretInvalid', 'CallbackSecretInvalid']);
    expect(metrics[0]).toMatchObject({ service: 'github-callback', CallbackSecretInvalid: 1 });
  });
});

describe('stripe-webhook with a webhook secret that is not "whsec_..."', () => {
  type Handler = typeof import('../../../lambdas/stripe-webhook/handler.ts').handler;
  let handler: Handler;
  beforeAll(async () => {
    ({ handler } = await loadFunction(
      'stripe-webhook',
      { STRIPE_WEBHOOK_SECRET_ID: 'stripe-webhook-secret', STRIPE_SECRET_KEY_ID: 'stripe-secret-key' },
      () => import('../../../lambdas/stripe-webhook/handler.ts'),
    ));
  });

  it('answers a signed event 503 configuration_error, not invalid_signature, and alarms', async () => {
    const payload = JSON.stringify({ id: 'evt_1', type: 'invoice.paid', data: { object: {} } });
    const { logs, metrics } = await linesOf(async () => {
      const response = (await handler(
        httpApiEvent({
          routeKey: 'POST /webhooks/stripe',
          body: payload,
          headers: { 'stripe-signature': stripeSignature(payload, MALFORMED_STRIPE_SECRET) },
        }),
        lambdaContext('stripe-webhook'),
      )) as { statusCode: number; body: string };
      expect(response.statusCode).toBe(503);
      expect(JSON.parse(response.body).error.code).toBe('configuration_error');
    });

    expect(logs.filter((line) => line.level === 'ERROR')).toEqual([
      expect.objectContaining({ message: 'Configuration error', setting: 'STRIPE_WEBHOOK_SECRET_ID' }),
    ]);
    expect(JSON.stringify(logs)).not.toContain(MALFORMED_STRIPE_SECRET);
    expect(metricNames(metrics)).toEqual(['StripeWebhookSecretInvalid']);
  });
});
