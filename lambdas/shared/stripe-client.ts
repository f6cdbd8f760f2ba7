/**
 * The Stripe API client of the functions that may read the Stripe secret key (checkout, cancel-subscription): one per
 * key value, so a rotated key gets a new client and a warm container reuses its own. The API's base URL is config
 * (`STRIPE_API_URL`: Stripe's own in AWS, the local Stripe fake locally), given through the SDK's own options.
 */
import Stripe from 'stripe';
import * as z from '../domain/zod-mini.ts';
import { nonEmpty } from './config.ts';
import { logger } from './logger.ts';
import { secretValue } from './secrets.ts';
import { ERROR_NAMES } from '../domain/error-names.ts';

/** Stripe's API base URL: the default of `STRIPE_API_URL`. */
export const STRIPE_API_URL = 'https://api.stripe.com';

/** The settings of a function that calls Stripe: the secret holding the key, and the API's base URL. */
export const stripeConfig = { STRIPE_SECRET_KEY_ID: nonEmpty(), STRIPE_API_URL: z._default(z.url(), STRIPE_API_URL) };

/**
 * The secret key has not been pasted in yet (the operator does it after deploy; until then the secret holds the random
 * value CloudFormation generated): the caller answers 503 naming it.
 */
export class StripeKeyMissingError extends Error {
  override readonly name = ERROR_NAMES.StripeKeyMissing;
  constructor() {
    super('The Stripe secret key has not been set: paste it into the Stripe secret key secret (STRIPE_SECRET_KEY_ID)');
  }
}

/** Stripe's secret and restricted keys. */
const STRIPE_KEY_PATTERN = /^(sk|rk)_(test|live)_\w+$/;

let cached: { secretKey: string; apiUrl: string; stripe: Stripe } | undefined;

/**
 * A Stripe client with the current secret key.
 * @throws StripeKeyMissingError when the secret is empty; the SDK's error when Secrets Manager fails
 */
export async function stripeClient(secretKeyId: string, apiUrl: string): Promise<Stripe> {
  const secretKey = (await secretValue(secretKeyId)).trim();
  if (!STRIPE_KEY_PATTERN.test(secretKey)) {
    logger.error('Stripe secret key missing', { secret: 'STRIPE_SECRET_KEY_ID' });
    throw new StripeKeyMissingError();
  }
  if (cached?.secretKey !== secretKey || cached.apiUrl !== apiUrl) {
    const api = new URL(apiUrl);
    const stripe = new Stripe(secretKey, {
      maxNetworkRetries: 2,
      timeout: 10_000,
      host: api.hostname,
      ...(api.port === '' ? {} : { port: api.port }),
      protocol: api.protocol === 'http:' ? 'http' : 'https',
    });
    cached = { secretKey, apiUrl, stripe };
  }
  return cached.stripe;
}
