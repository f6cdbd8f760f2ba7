import { Duration, Validations } from 'aws-cdk-lib';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Observability } from './observability.ts';

export interface FailureQueueProps {
  readonly observability: Observability;
  /** What lands here, for the alarm description. */
  readonly description: string;
  /** Its line on the dashboard's failure-queue graph, e.g. `fanout`. */
  readonly label: string;
}

/**
 * Where an asynchronous source parks what it could not process after its retries (on-failure destination or DLQ).
 * Anything visible here alarms: it needs a person.
 */
export class FailureQueue extends Construct {
  public readonly queue: Queue;

  constructor(scope: Construct, id: string, props: FailureQueueProps) {
    super(scope, id);

    // SQS-managed keys: Lambda and EventBridge can send without a KMS key policy of ours.
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter / on-failure destination; a person reads it, nothing consumes it.',
    });
    const depth = this.queue.metricApproximateNumberOfMessagesVisible();
    props.observability.addAlarm(this, 'DepthAlarm', {
      metric: depth,
      description: `${props.description} (messages waiting in the failure queue)`,
    });
    props.observability.showOnDashboard('failureQueues', depth.with({ label: props.label }));
  }
}
