import { Duration } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { Data } from './data.ts';
import { FailureQueue } from './failure-queue.ts';
import { PipelineFunction } from './lambda-function.ts';
import type { Observability } from './observability.ts';
import type { WebSocketApi } from './websocket-api.ts';

export interface FanoutProps {
  readonly data: Data;
  readonly webSocket: WebSocketApi;
  readonly observability: Observability;
}

/**
 * Pushes table changes to subscribed WebSocket connections: new history items (updates) and job modifications
 * (heartbeats). Latency matters more than batching here, hence no batching window.
 */
export class Fanout extends Construct {
  public readonly function: PipelineFunction;
  /** Stream batches that still failed after bisecting and retrying. */
  public readonly failures: FailureQueue;

  constructor(scope: Construct, id: string, props: FanoutProps) {
    super(scope, id);
    const { data, webSocket, observability } = props;

    this.function = new PipelineFunction(this, 'Function', {
      name: 'fanout',
      description: 'Sends history updates and heartbeats to subscribed WebSocket connections',
      timeout: Duration.seconds(30),
      observability,
    }).useTable(data.table, 'read');
    webSocket.useManagementApi(this.function);
    // A subscriber that answers 410 is gone: its connection and subscription items are deleted in one batch.
    this.function.addToRolePolicy(
      new PolicyStatement({ actions: ['dynamodb:BatchWriteItem'], resources: [data.table.tableArn] }),
    );

    this.failures = new FailureQueue(this, 'Failures', {
      observability,
      description: 'Stream records the fanout could not deliver',
      label: 'fanout',
    });
    this.function.useStream(data.table, this.failures, {
      startingPosition: StartingPosition.LATEST,
      batchSize: 100,
      maxBatchingWindow: Duration.seconds(0),
      retryAttempts: 3,
      // Dashboards wait for what the fan-out has not read yet: a minute behind is already visibly stale.
      maxIteratorAge: Duration.minutes(1),
      // An update older than this is replayed from history by a reconnecting client anyway.
      maxRecordAge: Duration.hours(1),
      filters: [
        FilterCriteria.filter({
          eventName: FilterRule.isEqual('INSERT'),
          dynamodb: { NewImage: { entity: { S: FilterRule.isEqual('history') } } },
        }),
        FilterCriteria.filter({
          eventName: FilterRule.isEqual('MODIFY'),
          dynamodb: { NewImage: { entity: { S: FilterRule.isEqual('job') } } },
        }),
        // A job's log lines, a batch at a time (lambdas/shared/job-logs.ts).
        FilterCriteria.filter({
          eventName: FilterRule.isEqual('INSERT'),
          dynamodb: { NewImage: { entity: { S: FilterRule.isEqual('log-batch') } } },
        }),
      ],
    });
  }
}
