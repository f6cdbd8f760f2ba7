import { Duration } from 'aws-cdk-lib';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { Data } from './data.ts';
import { FailureQueue } from './failure-queue.ts';
import { PipelineFunction } from './lambda-function.ts';
import type { Observability } from './observability.ts';
import type { PipelineStateMachine } from './pipeline-state-machine.ts';

export interface ExecutionStarterProps {
  readonly data: Data;
  readonly observability: Observability;
  /** Where paid jobs and retries are provisioned. */
  readonly provisioning: PipelineStateMachine;
  /** Where stop, start and destroy run. */
  readonly lifecycle: PipelineStateMachine;
}

/**
 * Starts the execution each recorded intent requested (docs/ARCHITECTURE.md, I3): the stream's INSERTs of
 * `execution-request` items, written in the same transaction as the intent, so whoever records an intent answers
 * after its write and never calls Step Functions. Retried a bounded number of times, then the failure queue alarms;
 * the sweeper starts what is still missing.
 */
export class ExecutionStarter extends Construct {
  public readonly function: PipelineFunction;
  /** Requests whose start still failed after the retries. */
  public readonly failures: FailureQueue;

  constructor(scope: Construct, id: string, props: ExecutionStarterProps) {
    super(scope, id);
    const { data, observability } = props;

    this.function = new PipelineFunction(this, 'Function', {
      name: 'execution-starter',
      description:
        'Starts the execution of each recorded intent (provisioning, stop, start, destroy) from the table stream',
      timeout: Duration.seconds(30),
      observability,
    });
    props.provisioning.grantStartTo(this.function);
    props.lifecycle.grantStartTo(this.function);

    this.failures = new FailureQueue(this, 'Failures', {
      observability,
      description: 'Execution requests the starter could not start (the sweeper starts them past the agent deadline)',
      label: 'execution-starter',
    });
    this.function.useStream(data.table, this.failures, {
      startingPosition: StartingPosition.TRIM_HORIZON,
      batchSize: 10,
      maxBatchingWindow: Duration.seconds(0),
      retryAttempts: 5,
      // Paid customers wait for their execution to start; past this the backlog is real (the sweeper steps in at 30 min).
      maxIteratorAge: Duration.minutes(5),
      // Older than this, the sweeper has the agent in hand.
      maxRecordAge: Duration.minutes(30),
      filters: [
        FilterCriteria.filter({
          eventName: FilterRule.isEqual('INSERT'),
          dynamodb: { NewImage: { entity: { S: FilterRule.isEqual('execution-request') } } },
        }),
      ],
    });
  }
}
