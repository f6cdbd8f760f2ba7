/**
 * IAM on the local runtime: every AWS call a function makes is checked against its role in the synthesized template,
 * and a denial fails as AWS fails it. Also the permissions this enforcement found missing, shown on the paths that
 * need them.
 */
import { randomBytes } from 'node:crypto';
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { postCallback } from '../../../.github/scripts/callback.mjs';
import { managementApi } from '../../../lambdas/shared/clients/management-api.ts';
import { keys } from '../../../lambdas/shared/keys.ts';
import type { LocalStack } from '../../../local/start.ts';
import { functionId, rejectionOf, roleOf } from '../../support/iam.ts';
import { ApiClient, payForAgent, startTestStack } from '../../support/local-stack.ts';

const RUN = randomBytes(3).toString('hex');

const template = inject('template');

describe('IAM from the template, on by default', () => {
  let stack: LocalStack;
  /** Held invocations of store-task-token: the test releases them (a workflow that reports before its wait begins). */
  let holdStoreTaskToken: Promise<void> | undefined;
  const storeTaskTokenId = functionId(template, 'store-task-token');

  beforeAll(async () => {
    stack = await startTestStack({
      testHooks: {
        beforeInvocation: async (logicalId) => {
          if (logicalId === storeTaskTokenId) await holdStoreTaskToken;
        },
      },
    });
    return () => stack.stop();
  });

  it("answers a call outside the role with AWS's AccessDeniedException, naming the role session, the action and the resource", async () => {
    const fanoutId = functionId(template, 'fanout');
    const { dynamo } = await import('../../../lambdas/shared/clients/dynamodb.ts');
    const item = { ...keys.connection(`iam-${RUN}`), entity: 'connection' };

    const denied = await rejectionOf(
      stack.callAs(fanoutId, () => dynamo.send(new PutCommand({ TableName: stack.tableName, Item: item }))),
    );
    expect(denied.name).toBe('AccessDeniedException');
    expect(denied.$metadata?.httpStatusCode).toBe(400);
    expect(denied.message).toBe(
      `User: arn:aws:sts::000000000000:assumed-role/${roleOf(template, fanoutId)}/${fanoutId} is not authorized to perform: ` +
        `dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/${stack.tableName} ` +
        'because no identity-based policy allows the dynamodb:PutItem action',
    );
    // Nothing was written, and what the role does allow goes through.
    const read = await stack.callAs(fanoutId, () =>
      dynamo.send(new GetCommand({ TableName: stack.tableName, Key: keys.connection(`iam-${RUN}`) })),
    );
    expect(read.Item).toBeUndefined();
  });

  it('authorizes each action of a transaction on its own (Put: dynamodb:PutItem)', async () => {
    const checkoutId = functionId(template, 'checkout'); // may update an agent, never create an item
    const { dynamo } = await import('../../../lambdas/shared/clients/dynamodb.ts');
    const denied = await rejectionOf(
      stack.callAs(checkoutId, () =>
        dynamo.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: stack.tableName,
                  Item: { ...keys.connection(`iam-tx-${RUN}`), entity: 'connection' },
                },
              },
            ],
          }),
        ),
      ),
    );
    expect(denied.name).toBe('AccessDeniedException');
    expect(denied.message).toContain(
      `not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/${stack.tableName} `,
    );
  });

  it("checks Step Functions, Secrets Manager and @connections calls against the caller's role too", async () => {
    const fanoutId = functionId(template, 'fanout');
    const { sfn } = await import('../../../lambdas/shared/clients/sfn.ts');
    const start = await rejectionOf(
      stack.callAs(fanoutId, () =>
        sfn.send(
          new StartExecutionCommand({ stateMachineArn: stack.stateMachineArn, name: `iam-${RUN}`, input: '{}' }),
        ),
      ),
    );
    expect(start.name).toBe('AccessDeniedException');
    expect(start.message).toContain(
      `not authorized to perform: states:StartExecution on resource: ${stack.stateMachineArn} `,
    );

    const secrets = new SecretsManagerClient({});
    const secret = await rejectionOf(
      stack.callAs(fanoutId, () => secrets.send(new GetSecretValueCommand({ SecretId: 'local/github-token' }))),
    );
    expect(secret.name).toBe('AccessDeniedException');
    expect(secret.message).toContain(
      'not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:000000000000:secret:local/github-token ',
    );

    const agentsApiId = functionId(template, 'agents-api'); // never talks to browsers
    const management = managementApi(stack.gateway.managementEndpoint);
    const post = await rejectionOf(
      stack.callAs(agentsApiId, () =>
        management.send(new PostToConnectionCommand({ ConnectionId: 'AAAAAAAAAAAAAAA=', Data: new Uint8Array([1]) })),
      ),
    );
    expect(post.name).toBe('ForbiddenException');
    expect(post.$metadata?.httpStatusCode).toBe(403);
    expect(post.message).toContain(
      `not authorized to perform: execute-api:ManageConnections on resource: arn:aws:execute-api:us-east-1:000000000000:${stack.gateway.webSocketApiId}/live/POST/@connections/AAAAAAAAAAAAAAA=`,
    );
  });

  it('store-task-token ends a wait whose final report came first (states:SendTaskSuccess): the agent becomes active, never rolled back', async () => {
    const client = await ApiClient.signIn(stack.url, `iam-fast-${RUN}`);
    const agent = await client.createAgent(`fast workflow [manual] ${RUN}`);
    const dispatched = new Promise<void>((resolve) => {
      const stop = stack.fakes.github.onDispatch((run) => {
        if (run.inputs.agent_id !== agent.agentId) return;
        stop();
        resolve();
      });
    });
    const released = Promise.withResolvers<void>();
    holdStoreTaskToken = released.promise;
    try {
      expect((await payForAgent(client, agent.agentId)).delivered).toBe(true);
      await dispatched;
      const { jobId } = await client.agent(agent.agentId);
      const report = async (payload: Record<string, unknown>) => {
        const result = await postCallback({
          url: `${stack.url}/callbacks/github`,
          secret: stack.secrets.callbackSecret,
          payload: { job_id: jobId, ...payload },
          attempts: 1,
          log: () => {},
        });
        expect(result).toMatchObject({ ok: true, status: 200 });
      };
      // The whole workflow reports while AwaitCompletion's store-task-token is still queued.
      await report({ type: 'status', status: 'provisioning' });
      await report({ type: 'step', step: 'vm_created', server_id: '4711', server_ip: '203.0.113.7' });
      await report({
        type: 'step',
        step: 'network_configured',
        tailscale_ip: '100.64.0.7',
        tailscale_device_id: 'device-4711',
      });
      await report({ type: 'step', step: 'ansible_started' });
      await report({ type: 'step', step: 'ansible_complete' });
      await report({
        type: 'status',
        status: 'running',
        server_id: '4711',
        server_ip: '203.0.113.7',
        tailscale_ip: '100.64.0.7',
      });
    } finally {
      holdStoreTaskToken = undefined;
      released.resolve();
    }
    const settled = await client.settled(agent.agentId);
    expect(settled).toMatchObject({ status: 'running', agentStatus: 'active' });
    expect(settled.error).toBeUndefined();
  });

  it('the fan-out deletes a subscriber that is gone (410): its connection and subscriptions leave the table', async () => {
    const client = await ApiClient.signIn(stack.url, `iam-gone-${RUN}`);
    const agent = await client.createAgent(`gone subscriber ${RUN}`);
    const { putConnection, subscribe } = await import('../../../lambdas/shared/connections.ts');
    // A connection the table still lists, which the gateway no longer has (it dropped without a $disconnect).
    const goneId = `gone${RUN}AAAAAA=`;
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    const connection = {
      connectionId: goneId,
      userId: client.userId,
      role: 'customer' as const,
      connectedAt: new Date().toISOString(),
      expiresAt,
    };
    await putConnection(connection);
    await subscribe({ ...connection, agentIds: new Set() }, agent.agentId);

    const dashboard = await client.live(stack.wsUrl);
    try {
      await dashboard.subscribe(agent.agentId);
      await payForAgent(client, agent.agentId); // its history reaches both subscribers
      await dashboard.reached(agent.seq + 1);
      const { dynamo } = await import('../../../lambdas/shared/clients/dynamodb.ts');
      const itemOf = async (key: Record<string, string>) =>
        (await dynamo.send(new GetCommand({ TableName: stack.tableName, Key: key, ConsistentRead: true }))).Item;
      await vi.waitFor(
        async () => {
          expect(await itemOf(keys.connection(goneId))).toBeUndefined();
          expect(await itemOf(keys.subscription(agent.agentId, goneId))).toBeUndefined();
        },
        { timeout: 10_000, interval: 100 },
      );
    } finally {
      await dashboard.close();
    }
  });
});
