/**
 * A statement removed from a role in the template (as a narrower grant would deploy it) is enforced on the local
 * runtime: the handler, the state machine or the event source mapping that needs it fails as it would in AWS.
 * One stack per file: the handlers' module-scope clients keep the endpoints of the stack that loaded them.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { keys } from '../../../lambdas/shared/keys.ts';
import { DEFINITION_METADATA_KEY, PROVISION_ASL_PATH } from '../../../lib/metadata.ts';
import { fromRepoRoot } from '../../../lib/paths.ts';
import type { LocalStack } from '../../../local/start.ts';
import { functionId, rejectionOf, revoke, roleOf } from '../../support/iam.ts';
import { ApiClient, payForAgent, startTestStack } from '../../support/local-stack.ts';

const RUN = randomBytes(3).toString('hex');
const template = inject('template');
const wsHandlerId = functionId(template, 'ws-handler');
const provisioningId = Object.keys(template.Resources).find(
  (id) => template.Resources[id]?.Metadata?.[DEFINITION_METADATA_KEY] === PROVISION_ASL_PATH,
)!;

describe('a statement removed from a role', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    // The WebSocket handler may no longer put items; the provisioning state machine may no longer invoke dispatch-workflow.
    const narrowed = revoke(
      revoke(template, roleOf(template, wsHandlerId), 'dynamodb:PutItem'),
      roleOf(template, provisioningId),
      'lambda:InvokeFunction',
      functionId(template, 'dispatch-workflow'),
    );
    // Lambda.AWSLambdaException is retried as a transient error, as in AWS: without the ASL's waits here.
    const { States } = JSON.parse(readFileSync(fromRepoRoot(PROVISION_ASL_PATH), 'utf8')) as {
      States: Record<string, unknown>;
    };
    stack = await startTestStack({
      template: narrowed,
      testHooks: { retryIntervalOverrides: Object.fromEntries(Object.keys(States).map((state) => [state, 10])) },
    });
    return () => stack.stop();
  });

  it('fails the handler that needs it with AccessDenied naming the action and the resource: $connect cannot store the connection', async () => {
    const client = await ApiClient.signIn(stack.url, `iam-revoked-${RUN}`);
    await expect(client.live(stack.wsUrl)).rejects.toThrow(/refused: 500/);

    const { dynamo } = await import('../../../lambdas/shared/clients/dynamodb.ts');
    const denied = await rejectionOf(
      stack.callAs(wsHandlerId, () =>
        dynamo.send(
          new PutCommand({
            TableName: stack.tableName,
            Item: { ...keys.connection(`revoked-${RUN}`), entity: 'connection' },
          }),
        ),
      ),
    );
    expect(denied.name).toBe('AccessDeniedException');
    expect(denied.message).toBe(
      `User: arn:aws:sts::000000000000:assumed-role/${roleOf(template, wsHandlerId)}/${wsHandlerId} is not authorized to perform: ` +
        `dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/${stack.tableName} ` +
        'because no identity-based policy allows the dynamodb:PutItem action',
    );
  });

  it('fails a state machine task whose role may not invoke its function (Lambda.AWSLambdaException): the job fails, nothing is dispatched', async () => {
    const client = await ApiClient.signIn(stack.url, `iam-sfn-${RUN}`);
    const agent = await client.createAgent('cannot be dispatched');
    let dispatches = 0;
    const stop = stack.fakes.github.onDispatch((run) => {
      if (run.inputs.agent_id === agent.agentId) dispatches++;
    });
    try {
      await payForAgent(client, agent.agentId);
      const settled = await client.settled(agent.agentId);
      expect(settled.status).toBe('failed');
      // The reason as staff read it (the owner reads the failure in their words).
      const staff = await ApiClient.signIn(stack.url, `iam-sfn-operator-${RUN}`, ['operators']);
      expect((await staff.agent(agent.agentId)).error).toContain('Lambda.AWSLambdaException');
      expect(dispatches).toBe(0);
    } finally {
      stop();
    }
  });
});

describe('an event source mapping whose role may not read the stream', () => {
  it('keeps the stack from starting, as creating the mapping fails in AWS', async () => {
    const fanoutId = functionId(template, 'fanout');
    await expect(
      startTestStack({ template: revoke(template, roleOf(template, fanoutId), 'dynamodb:DescribeStream') }),
    ).rejects.toThrow(
      /^Cannot access stream arn:aws:dynamodb:\S+\/stream\/\S+\. Please ensure the role can perform .*dynamodb:DescribeStream/,
    );
  });
});
