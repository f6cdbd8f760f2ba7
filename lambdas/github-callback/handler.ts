/**
 * `POST /callbacks/github`: the provisioning workflow's reports. Verifies the Standard Webhooks signature over the raw
 * body (docs/CONTRACT.md, "Callback signing"), validates the message with zod, records its `webhook-id` and hands it to
 * `handleCallback`. Nothing is written for a request that fails any check. The signature, the secret and the body are
 * never logged.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { callbackKeys, verifyCallback, type CallbackKeys } from '../domain/callback-signature.ts';
import { callbackMessage, type CallbackResponse } from '../domain/schemas.ts';
import * as z from '../domain/zod-mini.ts';
import { loadConfig, nonEmpty, tableConfig } from '../shared/config.ts';
import { recordCallbackDelivery } from '../shared/callback-deliveries.ts';
import { errorResponse, header, json, rawBody, strictUtf8 } from '../shared/http.ts';
import { logger } from '../shared/logger.ts';
import { publishMetric } from '../shared/metrics.ts';
import { getJob } from '../shared/repository.ts';
import { CALLBACK_SECRET_FORMAT } from '../domain/secret-formats.ts';
import { formattedSecret } from '../shared/secrets.ts';
import { webhookHandler } from '../shared/webhook-handler.ts';
import { handleCallback } from './callbacks.ts';
import { acceptLogBatch } from './log-batches.ts';

const config = loadConfig({
  ...tableConfig,
  CALLBACK_SECRET_ID: nonEmpty(),
  // The legacy X-Callback-* headers, for one release while workflow repositories move to Standard Webhooks (CDK context
  // acceptLegacyCallbackSignatures); off unless set.
  ACCEPT_LEGACY_CALLBACK_SIGNATURES: z._default(z.enum(['true', 'false']), 'false'),
});
const acceptLegacy = config.ACCEPT_LEGACY_CALLBACK_SIGNATURES === 'true';

/** Far above any contract message (the largest is a failure with a 2,000-character error); stops abuse early. */
export const MAX_CALLBACK_BYTES = 64 * 1024;

const SIGNATURE_FAILURE_MESSAGES = {
  invalid_signature: 'Missing or invalid webhook-id / webhook-timestamp / webhook-signature',
  stale_timestamp: 'webhook-timestamp is more than 300 s from now',
} as const;

/**
 * Verifiers of the current secret string, and its secrets as log lines must never show them, rebuilt only when it
 * changes (the secret itself is cached for 5 min).
 */
let keysOf: { secretString: string; keys: CallbackKeys; secrets: string[] } | undefined;
function keysFor(secretString: string): { keys: CallbackKeys; secrets: string[] } {
  if (keysOf?.secretString !== secretString) {
    const secrets = secretString.split(',').flatMap((secret) => [secret.trim(), secret.trim().replace(/^whsec_/, '')]);
    keysOf = { secretString, keys: callbackKeys(secretString), secrets };
  }
  return keysOf;
}

function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(strictUtf8(body)) };
  } catch {
    return { ok: false };
  }
}

async function handleGithubCallback(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  const body = rawBody(event);
  if (body.length > MAX_CALLBACK_BYTES) {
    return errorResponse(413, 'payload_too_large', `The body exceeds ${MAX_CALLBACK_BYTES} bytes`);
  }

  const secrets = keysFor(
    await formattedSecret('CALLBACK_SECRET_ID', config.CALLBACK_SECRET_ID, CALLBACK_SECRET_FORMAT),
  );
  const signature = verifyCallback(
    body,
    {
      webhookId: header(event, 'webhook-id'),
      webhookTimestamp: header(event, 'webhook-timestamp'),
      webhookSignature: header(event, 'webhook-signature'),
      legacyTimestamp: header(event, 'x-callback-timestamp'),
      legacySignature: header(event, 'x-callback-signature'),
    },
    secrets.keys,
    { acceptLegacy },
  );
  if (!signature.ok) {
    logger.warn('Refused callback', { reason: signature.reason });
    return errorResponse(401, signature.reason, SIGNATURE_FAILURE_MESSAGES[signature.reason]);
  }

  const parsed = parseJson(body);
  if (!parsed.ok) return errorResponse(400, 'invalid_json', 'The body is not valid UTF-8 JSON');
  const message = callbackMessage.safeParse(parsed.value);
  if (!message.success) {
    // Paths only: the values may be anything the sender put there.
    const paths = [...new Set(message.error.issues.map((issue) => issue.path.join('.') || '(root)'))];
    return errorResponse(400, 'invalid_body', `Invalid callback fields: ${paths.join(', ')}`);
  }

  const { type, job_id: jobId } = message.data;
  const job = await getJob(jobId);
  if (job === undefined) return errorResponse(404, 'job_not_found', `No job ${jobId}`);
  // Both ids on every line from here on, so one Logs Insights query finds the job's story (docs/OPERATIONS.md).
  logger.appendKeys({ jobId, agentId: job.agentId, callbackType: type, signatureScheme: signature.scheme });
  if (message.data.type === 'logs') {
    const delivery = signature.scheme === 'v1' ? { webhookId: signature.webhookId, body } : undefined;
    const answer = await acceptLogBatch(message.data, job, delivery, secrets.secrets);
    if (answer.kind === 'refused') {
      logger.warn('Refused log batch', { reason: answer.code });
      return errorResponse(answer.status, answer.code, answer.message);
    }
    const response: CallbackResponse =
      answer.kind === 'ignored' ? { received: true, ignored: answer.reason } : { received: true };
    return json(200, response);
  }
  if (signature.scheme === 'v1') {
    const delivery = await recordCallbackDelivery(signature.webhookId, jobId, body);
    if (delivery === 'reused') {
      logger.warn('Refused callback', { reason: 'webhook_id_reused' });
      return errorResponse(409, 'webhook_id_reused', 'This webhook-id was already delivered with another body');
    }
    logger.appendKeys({ delivery });
  }
  const result = await handleCallback(message.data);
  if (result.kind === 'job-not-found') return errorResponse(404, 'job_not_found', `No job ${jobId}`);
  // Only a report written now: a retried one's lag would measure the retry, not the pipeline.
  if (result.kind === 'accepted')
    publishMetric('CallbackLag', Date.now() - signature.signedAt.getTime(), { jobId, agentId: job.agentId });

  const response: CallbackResponse =
    result.kind === 'ignored' ? { received: true, ignored: result.reason } : { received: true };
  logger.info('Callback', { ...response });
  return json(200, response);
}

// A failure after verification (DynamoDB, Step Functions) answers 500: the sender retries and every step is repeatable.
export const handler = webhookHandler(handleGithubCallback, {
  metrics: { accepted: 'CallbacksReceived', refused: 'CallbacksRefused', misconfigured: 'CallbackSecretInvalid' },
  failureLog: 'Callback failed; the workflow will retry',
  retryMessage: 'The callback could not be processed; retry it',
});
