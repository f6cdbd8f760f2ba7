/** Stripe webhook acknowledgement under concurrent senders: each webhook pays for a fresh `[manual]` agent. */
import type { LocalStack } from '../../local/start.ts';
import { createAgent, devToken, mapWithConcurrency, now, sendCheckoutWebhook } from '../lib/pipeline.ts';
import { distribution, type Distribution } from '../lib/stats.ts';

export interface WebhookResult {
  readonly senders: number;
  readonly webhooks: number;
  readonly failures: number;
  /** Request sent -> response received, for every webhook. */
  readonly ack: Distribution;
  readonly webhooksPerSecond: number;
}

/** `senders` concurrent senders, each posting `perSender` `checkout.session.completed` webhooks one after another. */
export async function measureWebhookAck(stack: LocalStack, senders: number, perSender: number, run: string): Promise<WebhookResult> {
  // Agents exist first, so the timed part is the webhook alone (a job, a transaction, one execution started).
  const batches = await mapWithConcurrency(Array.from({ length: senders }), 10, async (_, sender) => {
    const userId = `bench-webhook-${run}-${sender}`;
    const token = await devToken(stack, userId);
    const agentIds: string[] = [];
    for (let index = 0; index < perSender; index += 1) agentIds.push(await createAgent(stack, token, `Webhook ${index} [manual]`));
    return { userId, agentIds };
  });
  const acks: number[] = [];
  let failures = 0;
  const started = now();
  await Promise.all(
    batches.map(async ({ userId, agentIds }) => {
      for (const agentId of agentIds) {
        const sentAt = now();
        const status = await sendCheckoutWebhook(stack, { agentId, userId });
        acks.push(now() - sentAt);
        if (status !== 200) failures += 1;
      }
    }),
  );
  const seconds = (now() - started) / 1000;
  return { senders, webhooks: acks.length, failures, ack: distribution(acks), webhooksPerSecond: acks.length / seconds };
}
