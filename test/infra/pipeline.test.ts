import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { Observability } from '../../lib/constructs/observability.ts';
import { DEFINITION_METADATA_KEY, PROVISION_ASL_PATH } from '../../lib/metadata.ts';
import { fromRepoRoot } from '../../lib/paths.ts';
import { functionLogicalId, roleStatements, synthesizePipeline } from './support.ts';

const { template } = synthesizePipeline();

const onlyResource = (type: string): { id: string; resource: Record<string, any> } => {
  const entries = Object.entries(template.findResources(type));
  expect(entries).toHaveLength(1);
  const [id, resource] = entries[0]!;
  return { id, resource };
};
const table = onlyResource('AWS::DynamoDB::Table');
/** The provisioning state machine (the lifecycle one has its own tests in lifecycle.test.ts). */
const stateMachine = ((): { id: string; resource: Record<string, any> } => {
  const entries = Object.entries(template.findResources('AWS::StepFunctions::StateMachine')).filter(
    ([, resource]) => resource.Metadata?.[DEFINITION_METADATA_KEY] === PROVISION_ASL_PATH,
  );
  expect(entries).toHaveLength(1);
  const [id, resource] = entries[0]!;
  return { id, resource };
})();
const getAttArn = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const queueId = (prefix: string): string => {
  const ids = Object.keys(template.findResources('AWS::SQS::Queue')).filter((id) => id.startsWith(prefix));
  expect(ids).toHaveLength(1);
  return ids[0]!;
};

describe('table', () => {
  it('is keyed PK/SK with GSI1, GSI2 and JobsByTime projecting all attributes, and the sparse deadline index GSI3 keys only', () => {
    const keySchema = (partition: string, sort: string) => [
      { AttributeName: partition, KeyType: 'HASH' },
      { AttributeName: sort, KeyType: 'RANGE' },
    ];
    expect(table.resource.Properties).toMatchObject({
      KeySchema: keySchema('PK', 'SK'),
      GlobalSecondaryIndexes: expect.arrayContaining([
        { IndexName: 'GSI1', KeySchema: keySchema('GSI1PK', 'GSI1SK'), Projection: { ProjectionType: 'ALL' } },
        { IndexName: 'GSI2', KeySchema: keySchema('GSI2PK', 'GSI2SK'), Projection: { ProjectionType: 'ALL' } },
        { IndexName: 'GSI3', KeySchema: keySchema('GSI3PK', 'GSI3SK'), Projection: { ProjectionType: 'KEYS_ONLY' } },
        // The operations console's jobs, newest first (lambdas/operations-api).
        {
          IndexName: 'JobsByTime',
          KeySchema: keySchema('JobsByTimePK', 'JobsByTimeSK'),
          Projection: { ProjectionType: 'ALL' },
        },
      ]),
    });
    const attributeTypes = new Set(
      table.resource.Properties.AttributeDefinitions.map((a: { AttributeType: string }) => a.AttributeType),
    );
    expect([...attributeTypes]).toEqual(['S']);
  });

  it('is on-demand, recoverable, encrypted, streamed with both images, expiring on expiresAt', () => {
    expect(table.resource.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    expect(table.resource.Properties.TableName).toBeUndefined();
  });

  it('survives stack deletion', () => {
    expect(table.resource).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });
});

/** The stream event source mapping feeding `name`. */
function mappingOf(name: 'fanout' | 'execution-starter') {
  const functionId = functionLogicalId(template, name);
  const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')).filter(
    (resource) => JSON.stringify(resource.Properties.FunctionName) === JSON.stringify({ Ref: functionId }),
  );
  expect(mappings).toHaveLength(1);
  return mappings[0]!.Properties;
}

describe('fanout event source', () => {
  const mapping = () => mappingOf('fanout');

  it('reads the table stream into the fanout function with low latency and bounded retries', () => {
    expect(mapping()).toMatchObject({
      FunctionName: { Ref: functionLogicalId(template, 'fanout') },
      EventSourceArn: { 'Fn::GetAtt': [table.id, 'StreamArn'] },
      StartingPosition: 'LATEST',
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 0,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 3,
      MaximumRecordAgeInSeconds: 3600,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: getAttArn(queueId('FanoutFailures')) } },
    });
  });

  it('passes only new history items, modified jobs and new log batches', () => {
    const patterns = mapping().FilterCriteria.Filters.map((filter: { Pattern: string }) => JSON.parse(filter.Pattern));
    expect(patterns).toEqual([
      { eventName: ['INSERT'], dynamodb: { NewImage: { entity: { S: ['history'] } } } },
      { eventName: ['MODIFY'], dynamodb: { NewImage: { entity: { S: ['job'] } } } },
      { eventName: ['INSERT'], dynamodb: { NewImage: { entity: { S: ['log-batch'] } } } },
    ]);
  });
});

describe('execution-starter event source (I3)', () => {
  const mapping = () => mappingOf('execution-starter');

  it('reads the stream from its trim horizon with bounded retries, partial batch responses and an on-failure queue', () => {
    expect(mapping()).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [table.id, 'StreamArn'] },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 10,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 5,
      MaximumRecordAgeInSeconds: 1800,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: getAttArn(queueId('ExecutionStarterFailures')) } },
    });
  });

  it('passes only new execution requests', () => {
    const patterns = mapping().FilterCriteria.Filters.map((filter: { Pattern: string }) => JSON.parse(filter.Pattern));
    expect(patterns).toEqual([
      { eventName: ['INSERT'], dynamodb: { NewImage: { entity: { S: ['execution-request'] } } } },
    ]);
  });
});

describe('failure queues', () => {
  it.each(['FanoutFailures', 'ExecutionStarterFailures', 'SweeperFailures'])(
    '%s is encrypted, TLS-only and alarmed',
    (prefix) => {
      const id = queueId(prefix);
      expect(template.findResources('AWS::SQS::Queue')[id]!.Properties).toMatchObject({ SqsManagedSseEnabled: true });
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [id, 'QueueName'] } }],
        Threshold: 1,
      });
    },
  );
});

describe('provisioning state machine', () => {
  const functionArnSubstitutions = () => ({
    DispatchWorkflowFunctionArn: getAttArn(functionLogicalId(template, 'dispatch-workflow')),
    StoreTaskTokenFunctionArn: getAttArn(functionLogicalId(template, 'store-task-token')),
    FinishJobFunctionArn: getAttArn(functionLogicalId(template, 'finish-job')),
    RollbackFunctionArn: getAttArn(functionLogicalId(template, 'rollback')),
    CheckRunFunctionArn: getAttArn(functionLogicalId(template, 'check-run')),
  });

  it('is a Standard state machine that logs everything but execution data, with tracing', () => {
    expect(stateMachine.resource.Properties).toMatchObject({
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [expect.any(String), 'Arn'] } } }],
      },
    });
  });

  it('is loaded from the ASL file with the five function ARNs substituted', () => {
    expect(stateMachine.resource.Properties.DefinitionS3Location).toBeDefined();
    expect(stateMachine.resource.Properties.DefinitionSubstitutions).toEqual(functionArnSubstitutions());
  });

  it('leaves no ${...} placeholder unsubstituted', () => {
    const substitutions = stateMachine.resource.Properties.DefinitionSubstitutions as Record<string, unknown>;
    const asl = readFileSync(fromRepoRoot(PROVISION_ASL_PATH), 'utf8');
    const substituted = asl.replace(/\$\{(\w+)\}/g, (placeholder, name: string) =>
      name in substitutions ? 'arn' : placeholder,
    );
    expect(substituted.match(/\$\{[^}]*\}/g) ?? []).toEqual([]);
    expect(() => JSON.parse(substituted)).not.toThrow();
  });

  it('may invoke exactly its five functions, unqualified', () => {
    const roleId = stateMachine.resource.Properties.RoleArn['Fn::GetAtt'][0] as string;
    const invokes = roleStatements(template, roleId).filter((statement) =>
      [statement.Action].flat().includes('lambda:InvokeFunction'),
    );
    expect(invokes).toEqual([
      expect.objectContaining({ Action: 'lambda:InvokeFunction', Resource: Object.values(functionArnSubstitutions()) }),
    ]);
  });

  it('gives dispatch-workflow the public callback URL of the HTTP API', () => {
    const callbackUrl = JSON.stringify(
      template.findResources('AWS::Lambda::Function')[functionLogicalId(template, 'dispatch-workflow')]!.Properties
        .Environment.Variables.CALLBACK_URL,
    );
    expect(callbackUrl).toMatch(/\{"Ref":"HttpApi\w+"\},".execute-api."/);
    expect(callbackUrl).toMatch(/\/callbacks\/github"/);
  });
});

describe('sweeper', () => {
  const sweeperId = () => functionLogicalId(template, 'sweeper');

  it('runs every 15 minutes with bounded retries and a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
      Targets: [
        Match.objectLike({
          Arn: getAttArn(sweeperId()),
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 900 },
          DeadLetterConfig: { Arn: getAttArn(queueId('SweeperFailures')) },
        }),
      ],
    });
  });

  it('sends failed asynchronous invocations to the same queue after two retries', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: sweeperId() },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: getAttArn(queueId('SweeperFailures')) } },
    });
  });
});

describe('alarms', () => {
  const topicId = () => onlyResource('AWS::SNS::Topic').id;

  it('every alarm notifies the alarm topic', () => {
    const alarms = Object.entries(template.findResources('AWS::CloudWatch::Alarm'));
    // 17 function error alarms, 3 failure queues, failed + timed-out executions of both state machines, ActivationFailed,
    // RollbackFailed, the refusal rates of Stripe events and callbacks, a refunded second payment, a paid checkout not
    // provisioned, the failure rate of each of 5 steps, the fan-out's error rate, 2 stream iterator ages, a malformed
    // callback secret and a malformed Stripe webhook secret (test/infra/observability.test.ts has the ones of
    // lib/constructs/observability.ts).
    expect(alarms).toHaveLength(40);
    for (const [id, alarm] of alarms) expect(alarm.Properties.AlarmActions, id).toEqual([{ Ref: topicId() }]);
  });

  it.each(['ExecutionsFailed', 'ExecutionsTimedOut'])(
    'alarms on %s of the provisioning state machine',
    (metricName) => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/States',
        MetricName: metricName,
        Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: stateMachine.id } }],
      });
    },
  );

  it.each(['ActivationFailed', 'RollbackFailed'])('alarms on %s as finish-job emits it', (metricName) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AgentPipeline',
      MetricName: metricName,
      Dimensions: [{ Name: 'service', Value: 'finish-job' }],
      Statistic: 'Sum',
      Threshold: 1,
    });
  });

  it('alarms at the first DuplicatePaymentRefunded as stripe-webhook counts it (a customer paid twice for one agent)', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AgentPipeline',
      MetricName: 'DuplicatePaymentRefunded',
      Dimensions: [{ Name: 'service', Value: 'stripe-webhook' }],
      Statistic: 'Sum',
      Threshold: 1,
      AlarmActions: [{ Ref: topicId() }],
    });
  });

  it('the topic is encrypted with a rotated key and refuses plain-text publishing', () => {
    const topic = onlyResource('AWS::SNS::Topic').resource;
    const keyId = (topic.Properties.KmsMasterKeyId as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    expect(template.findResources('AWS::KMS::Key')[keyId]!.Properties.EnableKeyRotation).toBe(true);
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId() }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('subscribes the alarm e-mail address only when one is given', () => {
    const observabilityTemplate = (alarmEmail?: string) => {
      const stack = new Stack(new App(), 'ObservabilityOnly');
      new Observability(stack, 'Observability', { alarmEmail });
      return Template.fromStack(stack);
    };
    observabilityTemplate('ops@example.com').hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    observabilityTemplate().resourceCountIs('AWS::SNS::Subscription', 0);
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});
