/**
 * `POST /webhooks/stripe`: verifies Stripe's signature over the raw body, decides what the event asks for
 * (lambdas/domain/stripe-events.ts) and carries it out. Answers 5xx only when something must be retried, so that
 * Stripe redelivers; a signed event the pipeline has no use for is acknowledged and ignored.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import Stripe from 'stripe';
import { stripeEventAction, stripeEventEnvelope } from '../domain/stripe-events.ts';
import { loadConfig, nonEmpty, tableConfig, timeoutsConfig, timeoutsOf } from '../shared/config.ts';
import { errorResponse, header, json, rawBody } from '../shared/http.ts';
import { logger } from '../shared/logger.ts';
import { STRIPE_WEBHOOK_SECRET_FORMAT } from '../domain/secret-formats.ts';
import { formattedSecret } from '../shared/secrets.ts';
import { webhookHandler } from '../shared/webhook-handler.ts';
import { stripeConfig } from '../shared/stripe-client.ts';
import { handleStripeEvent, type WebhookSettings } from './stripe-actions.ts';

const config = loadConfig({
  ...tableConfig,
  ...stripeConfig,
  ...timeoutsConfig,
  STRIPE_WEBHOOK_SECRET_ID: nonEmpty(),
});

const settings: WebhookSettings = {
  stripe: { secretKeyId: config.STRIPE_SECRET_KEY_ID, apiUrl: config.STRIPE_API_URL },
  timeouts: timeoutsOf(config),
};

/** How old a signed event may be (Stripe's own default, pinned because the contract names it). */
const TOLERANCE_SECONDS = 300;
// The SDK reports a correctly signed but old event only through this message; anything else is a bad signature.
const STALE_MESSAGE = 'Timestamp outside the tolerance zone';

/** Verification needs only the webhook secret: the SDK's static helpers, no API key, no client. */
const webhooks = Stripe.webhooks;

type VerifiedEvent = { ok: true; event: unknown } | { ok: false; response: APIGatewayProxyStructuredResultV2 };

async function verifiedEvent(event: APIGatewayProxyEventV2): Promise<VerifiedEvent> {
  const signature = header(event, 'stripe-signature');
  if (signature === undefined || signature === '') {
    return { ok: false, response: errorResponse(400, 'invalid_signature', 'Missing Stripe-Signature header') };
  }
  const secret = await formattedSecret(
    'STRIPE_WEBHOOK_SECRET_ID',
    config.STRIPE_WEBHOOK_SECRET_ID,
    STRIPE_WEBHOOK_SECRET_FORMAT,
  );
  try {
    return {
      ok: true,
      event: await webhooks.constructEventAsync(rawBody(event), signature, secret, TOLERANCE_SECONDS),
    };
  } catch (error) {
    // Neither the error (it carries the header and payload) nor the body is logged.
    if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
      const stale = error.message.startsWith(STALE_MESSAGE);
      logger.warn('Refused Stripe webhook', { reason: stale ? 'stale_timestamp' : 'invalid_signature' });
      return {
        ok: false,
        response: stale
          ? errorResponse(400, 'stale_timestamp', 'The signature timestamp is more than 300 s old')
          : errorResponse(400, 'invalid_signature', 'The Stripe-Signature header does not match the body'),
      };
    }
    if (error instanceof SyntaxError) {
      return { ok: false, response: errorResponse(400, 'invalid_json', 'The body is not valid JSON') };
    }
    throw error;
  }
}

async function handleWebhook(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  const verified = await verifiedEvent(event);
  if (!verified.ok) return verified.response;

  const envelope = stripeEventEnvelope.safeParse(verified.event);
  if (!envelope.success) {
    return errorResponse(400, 'invalid_event', 'The body is not a Stripe event (id, type and data.object required)');
  }
  logger.appendKeys({ stripeEventId: envelope.data.id, stripeEventType: envelope.data.type });

  const outcome = await handleStripeEvent(stripeEventAction(envelope.data), settings);
  return json(200, outcome.kind === 'ignored' ? { received: true, ignored: true } : { received: true });
}

// A failure after verification (DynamoDB) answers 500: the sender retries and every step is repeatable.
export const handler = webhookHandler(handleWebhook, {
  metrics: {
    accepted: 'StripeEventsReceived',
    refused: 'StripeEventsRefused',
    misconfigured: 'StripeWebhookSecretInvalid',
  },
  failureLog: 'Stripe webhook failed; Stripe will redeliver',
  retryMessage: 'The event could not be processed; it will be retried',
});
