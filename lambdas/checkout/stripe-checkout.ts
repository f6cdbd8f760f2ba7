/**
 * Stripe Checkout for a draft agent: a subscription session whose metadata (and its subscription's) names the agent,
 * so the webhook can provision exactly that agent once paid (docs/CONTRACT.md, "Stripe events handled").
 */
import Stripe from 'stripe';
import type { CheckoutMetadata } from '../domain/schemas.ts';
import { logger } from '../shared/logger.ts';
import { secretValue } from '../shared/secrets.ts';

/** Where Checkout runs, from the function's configuration; every field is needed for a real session. */
export interface CheckoutSettings {
  /** Secrets Manager id of the Stripe secret key. */
  readonly secretKeyId: string | undefined;
  /** The recurring price of one hosted agent. */
  readonly priceId: string | undefined;
  /** The dashboard's base URL, where Checkout sends the buyer back. */
  readonly dashboardUrl: string | undefined;
  /** The Stripe API's base URL (a fake Stripe in tests). @default Stripe's own */
  readonly apiUrl: string | undefined;
}

/** Checkout cannot start: no Stripe key, price or return URL. Never answered with a free agent. */
export class CheckoutUnavailableError extends Error {
  override readonly name = 'CheckoutUnavailable';
}

/** One Stripe client per secret key value, so a rotated key gets a new client and a warm container reuses its own. */
let cachedClient: { secretKey: string; stripe: Stripe } | undefined;

function stripeClient(secretKey: string, apiUrl: string | undefined): Stripe {
  if (cachedClient?.secretKey !== secretKey) {
    const api = apiUrl === undefined ? undefined : new URL(apiUrl);
    const stripe = new Stripe(secretKey, {
      maxNetworkRetries: 2,
      timeout: 10_000,
      ...(api && { host: api.hostname, port: api.port, protocol: api.protocol === 'http:' ? 'http' : 'https' }),
    });
    cachedClient = { secretKey, stripe };
  }
  return cachedClient.stripe;
}

async function secretKey(secretKeyId: string): Promise<string> {
  try {
    return (await secretValue(secretKeyId)).trim();
  } catch (error) {
    // A missing or unreadable secret means checkout is off, not that the request was bad; the value is never logged.
    logger.error('Stripe secret key unavailable', { reason: error instanceof Error ? error.name : 'unknown' });
    return '';
  }
}

/**
 * Creates a Stripe Checkout Session (mode `subscription`) for `metadata.agentId` and returns its URL.
 * @throws CheckoutUnavailableError when the settings or the secret key are missing
 */
export async function createCheckoutSession(settings: CheckoutSettings, metadata: CheckoutMetadata): Promise<string> {
  const { secretKeyId, priceId, dashboardUrl } = settings;
  if (secretKeyId === undefined || priceId === undefined || dashboardUrl === undefined) {
    throw new CheckoutUnavailableError('Stripe Checkout is not configured');
  }
  const key = await secretKey(secretKeyId);
  if (key === '') throw new CheckoutUnavailableError('The Stripe secret key is missing');

  const returnUrl = (outcome: 'success' | 'cancelled'): string => {
    const url = new URL(dashboardUrl);
    url.searchParams.set('agentId', metadata.agentId);
    url.searchParams.set('checkout', outcome);
    return url.toString();
  };
  const session = await stripeClient(key, settings.apiUrl).checkout.sessions.create({
    mode: 'subscription',
    line_items: [{ price: priceId, quantity: 1 }],
    client_reference_id: metadata.userId,
    metadata: { ...metadata },
    subscription_data: { metadata: { ...metadata } },
    success_url: returnUrl('success'),
    cancel_url: returnUrl('cancelled'),
  });
  if (session.url === null) throw new Error('Stripe returned a Checkout Session without a URL');
  return session.url;
}
