/**
 * `POST /agents/{agentId}/checkout` (HTTP API, access-token authorizer): a Stripe Checkout URL for the caller's draft
 * agent; `DELETE /agents/{agentId}`: deletes the caller's unpaid draft, once its open session can no longer be paid.
 * A function of its own, apart from agents-api, so that only it (and cancel-subscription) loads the Stripe SDK and may
 * read the Stripe key. The agent keeps its open session, so asking again answers the same one (invariant I2).
 */
import { mayDeleteDraft, mayPayFor } from '../domain/access.ts';
import { checkoutMetadata } from '../domain/schemas.ts';
import * as z from '../domain/zod-mini.ts';
import { loadConfig, tableConfig } from '../shared/config.ts';
import {
  byRouteKey,
  callerOf,
  dashboardApiHandler,
  forbidden,
  HttpError,
  visibleAgent,
  type DashboardRequest,
  type DashboardResponse,
} from '../shared/dashboard-api.ts';
import { json } from '../shared/http.ts';
import { StripeKeyMissingError, stripeConfig } from '../shared/stripe-client.ts';
import { deleteDraft, keepCheckoutSession } from './checkout-sessions.ts';
import { closeCheckoutSession, openCheckoutSession, type CheckoutSettings } from './stripe-checkout.ts';

const config = loadConfig({
  ...tableConfig,
  ...stripeConfig,
  STRIPE_PRICE_ID: z.string().check(z.startsWith('price_')),
  DASHBOARD_URL: z.url(),
});

const settings: CheckoutSettings = {
  secretKeyId: config.STRIPE_SECRET_KEY_ID,
  priceId: config.STRIPE_PRICE_ID,
  dashboardUrl: config.DASHBOARD_URL,
  apiUrl: config.STRIPE_API_URL,
};

/**
 * Only the owner pays (operators and support who see the agent get 403), only for a draft (nobody pays twice); without
 * the Stripe key, 503 naming it, never a free agent.
 */
async function startCheckout(request: DashboardRequest): Promise<DashboardResponse> {
  const agent = await visibleAgent(request);
  if (!mayPayFor(callerOf(request), agent)) throw forbidden("Only the agent's owner can pay for it");
  if (agent.subscriptionEndedAt !== undefined) {
    throw new HttpError(
      409,
      'subscription_ended',
      'The subscription of this agent has ended before it was provisioned: create a new agent',
    );
  }
  if (agent.agentStatus !== 'draft') {
    throw new HttpError(
      409,
      'agent_not_draft',
      `The agent is ${agent.agentStatus}: only a draft agent can be paid for`,
    );
  }
  const metadata = checkoutMetadata.parse({ agentId: agent.agentId, userId: agent.userId, region: agent.region });
  const outcome = await withStripe(() => openCheckoutSession(settings, metadata, agent.checkoutSession, new Date()));
  if (outcome.kind === 'paid') {
    throw new HttpError(409, 'checkout_paid', 'This agent is paid for already: it is being provisioned');
  }
  if (outcome.created) {
    const kept = await keepCheckoutSession(agent.agentId, agent.checkoutSession?.id, outcome.session);
    // Another checkout stored its session first (same Idempotency-Key, so the same session) or the agent was paid.
    if (!kept) throw new HttpError(409, 'checkout_conflict', 'The agent changed meanwhile: ask again');
  }
  return json(200, { url: outcome.session.url });
}

/**
 * Only the owner deletes (staff get 403), only an unpaid draft (409 otherwise, in words). Its open session is expired
 * at Stripe first, so it can no longer be paid for an agent that is gone; a session paid meanwhile keeps the draft
 * (409 `draft_paid`: the webhook provisions it). The delete is conditional on the draft and the session it closed, so
 * a payment or a checkout that came first wins.
 */
async function deleteDraftAgent(request: DashboardRequest): Promise<DashboardResponse> {
  const agent = await visibleAgent(request);
  if (!mayDeleteDraft(callerOf(request), agent)) throw forbidden('Only the agent’s owner can delete it');
  if (agent.agentStatus !== 'draft') {
    throw new HttpError(
      409,
      'agent_not_draft',
      `The agent is ${agent.agentStatus}: only an unpaid draft can be deleted`,
    );
  }
  if (agent.subscriptionEndedAt !== undefined) {
    throw new HttpError(
      409,
      'subscription_ended',
      'This agent was paid for and its subscription has ended: it is kept as the record of that payment',
    );
  }
  const session = agent.checkoutSession?.id;
  if (session !== undefined && (await withStripe(() => closeCheckoutSession(settings, session))) === 'paid') {
    throw new HttpError(409, 'draft_paid', 'This agent was just paid for: it is being provisioned, so it is kept');
  }
  if (!(await deleteDraft(agent.agentId, session))) {
    throw new HttpError(409, 'draft_changed', 'The agent changed meanwhile (paid or a checkout opened): look again');
  }
  return { statusCode: 204 };
}

/** A Stripe call; without the Stripe key, 503 naming it. */
async function withStripe<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof StripeKeyMissingError) throw new HttpError(503, 'checkout_unavailable', error.message);
    throw error;
  }
}

export const handler = dashboardApiHandler(
  byRouteKey({
    'POST /agents/{agentId}/checkout': startCheckout,
    'DELETE /agents/{agentId}': deleteDraftAgent,
  }),
);
