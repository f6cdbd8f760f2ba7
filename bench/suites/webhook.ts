/**
 * Stripe webhook acknowledgement under concurrent senders, each webhook paying for a fresh `[manual]` agent, and its
 * floor: the same senders writing the same items in one bare `TransactWriteItems` each, on the same DynamoDB Local.
 */
import { DynamoDBDocumentClient, ScanCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { createTables, localDynamoDbClient } from '../../local/dynamodb.ts';
import { synthesizeTemplate } from '../../local/template.ts';
import {
  createAgent,
  devToken,
  executionStarts,
  getAgent,
  mapWithConcurrency,
  now,
  sendCheckoutWebhook,
} from '../lib/pipeline.ts';
import type { StackInfo, StackProcess } from '../lib/stack.ts';
import { distribution, type Distribution } from '../lib/stats.ts';

export interface WebhookResult {
  readonly senders: number;
  readonly webhooks: number;
  readonly failures: number;
  /** Request sent -> response received, for every webhook. */
  readonly ack: Distribution;
  readonly webhooksPerSecond: number;
}

export interface WebhookRun extends WebhookResult {
  /** The agents each sender paid for, in order. */
  readonly agentIdsBySender: readonly (readonly string[])[];
  /** Ack (200 at the sender) -> the job's provisioning execution started (from the stream, by the execution-starter). */
  readonly ackToExecution: Distribution;
}

/**
 * `senders` concurrent senders, each sending its batch one after another; resolves with the acks, and calls `acked`
 * with each item and when its answer arrived.
 */
async function concurrentSenders<T>(
  batches: readonly (readonly T[])[],
  send: (item: T) => Promise<boolean>,
  acked: (item: T, at: number) => void = () => {},
): Promise<WebhookResult> {
  const acks: number[] = [];
  let failures = 0;
  const started = now();
  await Promise.all(
    batches.map(async (batch) => {
      for (const item of batch) {
        const sentAt = now();
        const ok = await send(item);
        const at = now();
        acks.push(at - sentAt);
        acked(item, at);
        if (!ok) failures += 1;
      }
    }),
  );
  const seconds = (now() - started) / 1000;
  return {
    senders: batches.length,
    webhooks: acks.length,
    failures,
    ack: distribution(acks),
    webhooksPerSecond: acks.length / seconds,
  };
}

/** `senders` concurrent senders, each posting `perSender` `checkout.session.completed` webhooks one after another. */
export async function measureWebhookAck(
  stack: StackProcess,
  senders: number,
  perSender: number,
  run: string,
): Promise<WebhookRun> {
  // Agents exist first, so the timed part is the webhook alone.
  const batches = await mapWithConcurrency(Array.from({ length: senders }), 10, async (_, sender) => {
    const userId = `bench-webhook-${run}-${sender}`;
    const token = await devToken(stack, userId);
    const agentIds: string[] = [];
    for (let index = 0; index < perSender; index += 1)
      agentIds.push(await createAgent(stack, token, `Webhook ${index} [manual]`));
    return agentIds.map((agentId) => ({ agentId, userId, token }));
  });
  const ackedAt = new Map<string, number>();
  const result = await concurrentSenders(
    batches,
    async (agent) => (await sendCheckoutWebhook(stack, agent)) === 200,
    ({ agentId }, at) => ackedAt.set(agentId, at),
  );
  // The ack no longer waits for the execution: the next phase must not start while the stack still starts these.
  const jobIds = await mapWithConcurrency(
    batches.flat(),
    10,
    async ({ agentId, token }) => (await getAgent(stack, token, agentId)).jobId,
  );
  const started = await executionStarts(stack, jobIds);
  return {
    ...result,
    agentIdsBySender: batches.map((batch) => batch.map(({ agentId }) => agentId)),
    ackToExecution: distribution(
      batches.flat().map(({ agentId }, index) => (started[index] ?? NaN) - (ackedAt.get(agentId) ?? NaN)),
    ),
  };
}

type Item = Record<string, unknown>;

/**
 * The items each paid agent's webhook wrote in its transaction, read back from the table: every item that names the
 * agent or its job (agent, job, Stripe event, and whatever else the transaction writes), of its history only the
 * `created` item. Agent and job are read as they are now, after the execution's first writes: a little larger.
 */
async function webhookItems(
  client: DynamoDBDocumentClient,
  tableName: string,
  agentIds: ReadonlySet<string>,
): Promise<Map<string, Item[]>> {
  const byAgent = new Map<string, Item[]>();
  const byJob = new Map<string, Item[]>();
  const unclaimed: Item[] = [];
  let ExclusiveStartKey: Item | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey }));
    for (const item of page.Items ?? []) {
      const agentId = typeof item.agentId === 'string' && agentIds.has(item.agentId) ? item.agentId : undefined;
      if (agentId === undefined) {
        unclaimed.push(item);
        continue;
      }
      const written = byAgent.get(agentId) ?? [];
      byAgent.set(agentId, written);
      if (item.entity !== 'history' || item.event === 'created') written.push(item);
      if (item.entity === 'job') byJob.set(item.jobId as string, written);
    }
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey !== undefined);
  // Items that name only the job (the Stripe event).
  for (const item of unclaimed) if (typeof item.jobId === 'string') byJob.get(item.jobId)?.push(item);
  return byAgent;
}

/**
 * The floor of the webhook ack: for each webhook of `run`, one bare `TransactWriteItems` putting the same items
 * (`attribute_not_exists(PK)` on each, as the webhook's puts have) into a fresh table of the same definition (keys,
 * indexes, stream, TTL) on the same DynamoDB Local, by the same number of concurrent senders. No stream consumer
 * reads that table.
 */
export async function measureAckFloor(
  stack: StackInfo,
  run: WebhookRun,
  runId: string,
): Promise<WebhookResult & { itemsPerTransaction: number; bytesPerTransaction: number }> {
  // DynamoDB Local itself: the functions reach it through the local IAM proxy, which a bare write does without.
  const endpoint = stack.dynamoEndpoint;
  const tables = await createTables(endpoint, await synthesizeTemplate(), { prefix: `bench-floor-${runId}-` });
  const floorTable = Object.entries(tables).find(([logicalId]) => stack.tableName.endsWith(logicalId))?.[1];
  if (floorTable === undefined) throw new Error(`No table of the template is ${stack.tableName}`);
  const client = DynamoDBDocumentClient.from(localDynamoDbClient(endpoint), {
    marshallOptions: { removeUndefinedValues: true },
  });
  try {
    const items = await webhookItems(client, stack.tableName, new Set(run.agentIdsBySender.flat()));
    const transactions = run.agentIdsBySender.map((agentIds) => agentIds.map((agentId) => items.get(agentId) ?? []));
    const sample = transactions[0]?.[0] ?? [];
    const result = await concurrentSenders(transactions, async (transaction) => {
      await client.send(
        new TransactWriteCommand({
          TransactItems: transaction.map((Item) => ({
            Put: { TableName: floorTable, Item, ConditionExpression: 'attribute_not_exists(PK)' },
          })),
        }),
      );
      return true;
    });
    return {
      ...result,
      itemsPerTransaction: sample.length,
      bytesPerTransaction: Buffer.byteLength(JSON.stringify(sample)),
    };
  } finally {
    client.destroy();
  }
}
