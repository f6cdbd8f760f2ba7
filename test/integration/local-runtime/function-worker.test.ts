/**
 * A function in a worker thread of its own (`functionsInWorkers`, local/function-worker.ts), as the benchmark runs the
 * fan-out: it still gets its stream batches, posts to `@connections` as its role, and reports its outcome.
 */
import { randomBytes } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { keys } from '../../../lambdas/shared/keys.ts';
import type { LocalStack } from '../../../local/start.ts';
import { ApiClient, payForAgent, startTestStack } from '../../support/local-stack.ts';

const RUN = randomBytes(3).toString('hex');

describe('the fan-out in a worker thread', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startTestStack({ functionsInWorkers: ['fanout'] });
    return () => stack.stop();
  });

  it("delivers the paid agent's updates to its dashboard, and removes a subscriber that is gone (410)", async () => {
    const client = await ApiClient.signIn(stack.url, `worker-${RUN}`);
    const agent = await client.createAgent(`worker fan-out ${RUN}`);
    const { putConnection, subscribe } = await import('../../../lambdas/shared/connections.ts');
    const goneId = `gone${RUN}AAAAAA=`;
    const connection = {
      connectionId: goneId,
      userId: client.userId,
      role: 'customer' as const,
      connectedAt: new Date().toISOString(),
      expiresAt: Math.floor(Date.now() / 1000) + 3600,
    };
    await putConnection(connection);
    await subscribe({ ...connection, agentIds: new Set() }, agent.agentId);

    const dashboard = await client.live(stack.wsUrl);
    try {
      await dashboard.subscribe(agent.agentId);
      await payForAgent(client, agent.agentId);
      await dashboard.reached(agent.seq + 1);
      expect(dashboard.views().at(-1)).toMatchObject({
        type: 'update',
        agentId: agent.agentId,
        agentStatus: 'provisioning',
      });
      const { dynamo } = await import('../../../lambdas/shared/clients/dynamodb.ts');
      await vi.waitFor(
        async () => {
          const { Item } = await dynamo.send(
            new GetCommand({ TableName: stack.tableName, Key: keys.connection(goneId), ConsistentRead: true }),
          );
          expect(Item).toBeUndefined();
        },
        { timeout: 10_000, interval: 100 },
      );
    } finally {
      await dashboard.close();
    }
  });
});
