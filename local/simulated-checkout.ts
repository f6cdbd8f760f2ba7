/**
 * The simulated checkout of local mode (there is no Stripe key locally): a page that stands in for Stripe Checkout and,
 * when the buyer pays, sends the webhook Stripe would send, signed with the webhook secret, to the real webhook route.
 * It exists only in local mode; in AWS a missing Stripe key makes checkout answer 503.
 */
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import type { GatewayHttpResponse, LocalRoute } from './gateway.ts';

export interface SimulatedCheckoutOptions {
  /** The gateway's own `POST /webhooks/stripe`. */
  readonly webhookUrl: string;
  readonly webhookSecret: string;
}

const html = (statusCode: number, body: string): GatewayHttpResponse => ({
  statusCode,
  headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
  body: Buffer.from(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Simulated checkout</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1f2328}
.card{border:1px solid #d0d7de;border-radius:12px;padding:1.5rem}button{font:inherit;padding:.6rem 1.2rem;border-radius:8px;border:0;background:#0969da;color:#fff;cursor:pointer}
a{color:#0969da}.note{color:#59636e;font-size:.9rem}</style></head><body>${body}</body></html>`),
});

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

/**
 * The agent, read through the handlers' repository. Imported on first use, not at load: the shared modules read their
 * configuration (table, log level, service name) once, when first imported, and the stack sets it only after this
 * module is loaded.
 */
async function getAgent(agentId: string) {
  const repository = await import('../lambdas/shared/repository.ts');
  return repository.getAgent(agentId);
}

const redirect = (location: string): GatewayHttpResponse => ({ statusCode: 303, headers: { location }, body: Buffer.alloc(0) });

/** `checkout.session.completed` as Stripe sends it for a paid subscription checkout. */
export function checkoutCompletedEvent(agent: { agentId: string; userId: string; region: string }): Record<string, unknown> {
  const suffix = randomBytes(12).toString('hex');
  const metadata = { agentId: agent.agentId, userId: agent.userId, region: agent.region };
  return {
    id: `evt_local_${suffix}`,
    object: 'event',
    api_version: '2025-10-29.clover',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: 'checkout.session.completed',
    data: {
      object: {
        id: `cs_test_local_${suffix}`,
        object: 'checkout.session',
        mode: 'subscription',
        status: 'complete',
        payment_status: 'paid',
        client_reference_id: agent.userId,
        customer: `cus_local_${suffix}`,
        subscription: `sub_local_${suffix}`,
        metadata,
      },
    },
  };
}

/** The two local routes: the checkout page and its "pay" action. */
export function simulatedCheckout(options: SimulatedCheckoutOptions): LocalRoute[] {
  return [
    {
      method: 'GET',
      path: '/dev/checkout',
      async handle({ query }) {
        const agentId = query.get('agentId') ?? '';
        const agent = agentId === '' ? undefined : await getAgent(agentId);
        if (agent === undefined) return html(404, '<h1>Unknown agent</h1><p><a href="/">Back to the dashboard</a></p>');
        return html(
          200,
          `<main class="card"><h1>Simulated checkout</h1>
<p>Agent <strong>${escapeHtml(agent.name)}</strong> in <strong>${escapeHtml(agent.region)}</strong>.</p>
<form method="post" action="/dev/checkout"><input type="hidden" name="agentId" value="${escapeHtml(agent.agentId)}">
<button type="submit" data-testid="simulated-pay">Pay (simulated)</button></form>
<p class="note">Local mode: no card is charged. Paying sends a signed <code>checkout.session.completed</code> webhook, exactly as Stripe would.</p>
<p><a href="/?agentId=${encodeURIComponent(agent.agentId)}&amp;checkout=cancelled">Cancel</a></p></main>`,
        );
      },
    },
    {
      method: 'POST',
      path: '/dev/checkout',
      async handle({ body }) {
        const agentId = new URLSearchParams(body.toString('utf8')).get('agentId') ?? '';
        const agent = agentId === '' ? undefined : await getAgent(agentId);
        if (agent === undefined) return html(404, '<h1>Unknown agent</h1>');
        const payload = JSON.stringify(checkoutCompletedEvent(agent));
        const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: options.webhookSecret });
        const response = await fetch(options.webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'stripe-signature': signature },
          body: payload,
        });
        if (!response.ok) {
          return html(502, `<h1>The webhook answered ${response.status}</h1><p><a href="/">Back to the dashboard</a></p>`);
        }
        return redirect(`/?agentId=${encodeURIComponent(agent.agentId)}&checkout=success`);
      },
    },
  ];
}
