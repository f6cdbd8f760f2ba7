/**
 * The local AWS endpoint, driven by the real SDK clients: Step Functions calls reach LocalStepFunctions and refusals
 * come back as the SDK's own exception classes; Secrets Manager answers GetSecretValue.
 */
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
  StopExecutionCommand,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { startAwsServices, type AwsServices } from '../../../local/aws-services.ts';
import { LocalStepFunctions } from '../../../local/stepfunctions.ts';

const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:Callback';
const WAITER_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:Waiter';

/** One callback task (heartbeat and timeout from the input) whose failure is caught into the output. */
const definition = {
  StartAt: 'Wait',
  States: {
    Wait: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: { FunctionName: WAITER_ARN, Payload: { 'token.$': '$$.Task.Token', 'id.$': '$.id' } },
      HeartbeatSecondsPath: '$.heartbeatSeconds',
      TimeoutSeconds: 30,
      ResultPath: '$.result',
      Catch: [{ ErrorEquals: ['Expected'], ResultPath: '$.caught', Next: 'Caught' }],
      End: true,
    },
    Caught: { Type: 'Pass', End: true },
  },
};

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
let services: AwsServices;
let stepFunctions: LocalStepFunctions;
let sfn: SFNClient;
let secretsManager: SecretsManagerClient;
/** Task tokens handed to the waiter, by the execution input's `id`. */
const tokens = new Map<string, PromiseWithResolvers<string>>();

function tokenFor(id: string): Promise<string> {
  if (!tokens.has(id)) tokens.set(id, Promise.withResolvers());
  return tokens.get(id)!.promise;
}

async function start(id: string, heartbeatSeconds = 30): Promise<string> {
  const { executionArn } = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn: STATE_MACHINE_ARN,
      name: id,
      input: JSON.stringify({ id, heartbeatSeconds }),
    }),
  );
  return executionArn!;
}

beforeAll(async () => {
  stepFunctions = new LocalStepFunctions({
    definitions: { [STATE_MACHINE_ARN]: definition },
    functions: {
      [WAITER_ARN]: async (payload) => {
        const { token, id } = payload as { token: string; id: string };
        void tokenFor(id);
        tokens.get(id)!.resolve(token);
        return null;
      },
    },
  });
  services = await startAwsServices({ secrets: { 'github-token': 'ghp_local' }, stepFunctions });
  sfn = new SFNClient({ endpoint: services.url, region: 'us-east-1', credentials, maxAttempts: 1 });
  secretsManager = new SecretsManagerClient({
    endpoint: services.url,
    region: 'us-east-1',
    credentials,
    maxAttempts: 1,
  });
  return async () => {
    stepFunctions.stopAll();
    sfn.destroy();
    secretsManager.destroy();
    await services.stop();
  };
});

describe('Step Functions API', () => {
  it('completes a waiting task with SendTaskSuccess and describes the execution', async () => {
    const executionArn = await start('success');
    const token = await tokenFor('success');
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ vm: 'ok' }) }));
    await stepFunctions.waitForExecution(executionArn);

    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(described.status).toBe('SUCCEEDED');
    expect(described.name).toBe('success');
    expect(described.startDate).toBeInstanceOf(Date);
    expect(JSON.parse(described.output!)).toEqual({ id: 'success', heartbeatSeconds: 30, result: { vm: 'ok' } });
  });

  it('answers TaskTimedOut for a token used twice and InvalidToken for one it never issued', async () => {
    await start('twice');
    const token = await tokenFor('twice');
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }));
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }))).rejects.toBeInstanceOf(
      TaskTimedOut,
    );
    await expect(sfn.send(new SendTaskHeartbeatCommand({ taskToken: token }))).rejects.toBeInstanceOf(TaskTimedOut);
    await expect(
      sfn.send(new SendTaskSuccessCommand({ taskToken: 'AQnot-a-token', output: '{}' })),
    ).rejects.toBeInstanceOf(InvalidToken);
  });

  it('fails a waiting task with SendTaskFailure, matched by Catch on the error name', async () => {
    const executionArn = await start('failure');
    await sfn.send(
      new SendTaskFailureCommand({ taskToken: await tokenFor('failure'), error: 'Expected', cause: 'because' }),
    );
    const described = await stepFunctions.waitForExecution(executionArn);
    expect(described.status).toBe('SUCCEEDED');
    expect(JSON.parse(described.output!).caught).toEqual({ Error: 'Expected', Cause: 'because' });
  });

  it('fails the execution with States.HeartbeatTimeout when heartbeats stop, not while they come', async () => {
    const executionArn = await start('heartbeat', 1);
    const token = await tokenFor('heartbeat');
    for (let beat = 0; beat < 4; beat++) {
      await sleep(400);
      await sfn.send(new SendTaskHeartbeatCommand({ taskToken: token }));
    }
    expect((await sfn.send(new DescribeExecutionCommand({ executionArn }))).status).toBe('RUNNING');

    const described = await stepFunctions.waitForExecution(executionArn);
    expect(described).toMatchObject({ status: 'FAILED', error: 'States.HeartbeatTimeout' });
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }))).rejects.toBeInstanceOf(
      TaskTimedOut,
    );
  });

  it('starts a name once: same input while running is the same execution, anything else ExecutionAlreadyExists', async () => {
    const request = {
      stateMachineArn: STATE_MACHINE_ARN,
      name: 'named',
      input: JSON.stringify({ id: 'named', heartbeatSeconds: 30 }),
    };
    const first = await sfn.send(new StartExecutionCommand(request));
    const executionArn = first.executionArn!;
    // AWS answers a repeat while the execution runs with the original answer (StartExecution is idempotent then).
    const repeated = await sfn.send(new StartExecutionCommand(request));
    expect({ executionArn: repeated.executionArn, startDate: repeated.startDate }).toEqual({
      executionArn,
      startDate: first.startDate,
    });
    await expect(
      sfn.send(
        new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'named', input: '{"id":"other"}' }),
      ),
    ).rejects.toBeInstanceOf(ExecutionAlreadyExists);

    await sfn.send(new StopExecutionCommand({ executionArn, error: 'Stopped', cause: 'by the test' }));
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(described).toMatchObject({ status: 'ABORTED', error: 'Stopped', cause: 'by the test' });
    await expect(
      sfn.send(new SendTaskSuccessCommand({ taskToken: await tokenFor('named'), output: '{}' })),
    ).rejects.toBeInstanceOf(TaskTimedOut);
    await expect(start('named')).rejects.toBeInstanceOf(ExecutionAlreadyExists);
  });

  it('answers ExecutionDoesNotExist and StateMachineDoesNotExist for unknown ARNs', async () => {
    await expect(
      sfn.send(
        new DescribeExecutionCommand({
          executionArn: `${STATE_MACHINE_ARN.replace('stateMachine', 'execution')}:nobody`,
        }),
      ),
    ).rejects.toBeInstanceOf(ExecutionDoesNotExist);
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: `${STATE_MACHINE_ARN}Missing`, input: '{}' })),
    ).rejects.toBeInstanceOf(StateMachineDoesNotExist);
  });
});

describe('Secrets Manager API', () => {
  it('returns a secret string and ResourceNotFoundException for an unknown secret', async () => {
    const { SecretString } = await secretsManager.send(new GetSecretValueCommand({ SecretId: 'github-token' }));
    expect(SecretString).toBe('ghp_local');
    await expect(secretsManager.send(new GetSecretValueCommand({ SecretId: 'missing' }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
  });

  it("reaches the functions' secretValue as the SDK's own error, which the state machine's Retry matches by name", async () => {
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = services.url;
    const { secretValue } = await import('../../../lambdas/shared/secrets.ts');
    expect(await secretValue('github-token')).toBe('ghp_local');
    // Not Powertools' GetParameterError around it.
    await expect(secretValue('missing')).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });
});
