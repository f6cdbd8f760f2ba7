import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { acknowledgeGuardRule } from '../guard.ts';

/** CloudWatch namespace of the pipeline's own metrics (Powertools Metrics, e.g. `RollbackFailed`). */
export const METRICS_NAMESPACE = 'AgentPipeline';

export interface ObservabilityProps {
  /**
   * Address subscribed to every alarm.
   * @default - no subscription; subscribe to the topic out of band
   */
  readonly alarmEmail?: string;
}

/** What {@link Observability.addAlarm} watches: any metric that must stay below a threshold. */
export interface PipelineAlarmProps {
  readonly metric: Metric;
  /** Alarm when the metric reaches this value. @default 1 */
  readonly threshold?: number;
  readonly description: string;
}

/**
 * What the endpoints outside parties call count as refused (`lambdas/shared/webhook-handler.ts`: any answer but 200,
 * mostly a signature that does not verify), by the Powertools service name of the function that counts it.
 */
const REFUSED_REQUEST_METRICS = [
  {
    id: 'StripeEventsRefusedAlarm',
    service: 'stripe-webhook',
    metricName: 'StripeEventsRefused',
    what: 'Stripe webhook events',
  },
  {
    id: 'CallbacksRefusedAlarm',
    service: 'github-callback',
    metricName: 'CallbacksRefused',
    what: 'workflow callbacks',
  },
] as const;

/**
 * Things that were set right automatically but that a person must know about, each at its first occurrence: a customer
 * who paid twice for one agent had the second subscription cancelled and refunded (I2, `lambdas/stripe-webhook`).
 */
const NEEDS_A_PERSON_METRICS = [
  {
    id: 'DuplicatePaymentRefundedAlarm',
    service: 'stripe-webhook',
    metricName: 'DuplicatePaymentRefunded',
    description:
      'A customer paid twice for one agent: the second subscription was cancelled and refunded (recorded on the agent)',
  },
] as const;

/**
 * Refused requests in one 5-minute period that make a burst: a single one is an internet scanner, a wrong or
 * half-rotated secret refuses every request (and the senders retry each one).
 */
const REFUSED_REQUESTS_BURST = 5;

/** The one alarm topic of the pipeline, the alarms on refused requests, and the helper every construct uses to alarm. */
export class Observability extends Construct {
  /** Every alarm of the stack notifies this topic. */
  public readonly alarmTopic: Topic;
  private readonly alarmAction: SnsAction;

  constructor(scope: Construct, id: string, props: ObservabilityProps = {}) {
    super(scope, id);

    // CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, so the topic has its own key.
    const key = new Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the pipeline alarm topic',
      enableKeyRotation: true,
    });
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey');
    acknowledgeGuardRule(
      key,
      'kms_create_grant_aws_service_check',
      "No IAM policy of this stack allows kms:CreateGrant on it (the account statement is CDK's default, leaving IAM in charge); SNS and CloudWatch use the key through key-policy statements, not grants.",
    );

    this.alarmTopic = new Topic(this, 'AlarmTopic', { masterKey: key, enforceSSL: true });
    if (props.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));
    this.alarmAction = new SnsAction(this.alarmTopic);

    for (const { id: alarmId, service, metricName, what } of REFUSED_REQUEST_METRICS) {
      this.addAlarm(this, alarmId, {
        // Powertools Metrics adds the `service` dimension (POWERTOOLS_SERVICE_NAME of the function).
        metric: new Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service }, statistic: 'Sum' }),
        threshold: REFUSED_REQUESTS_BURST,
        description: `A burst of refused ${what}: a wrong or half-rotated secret, or someone probing the endpoint`,
      });
    }
    for (const { id: alarmId, service, metricName, description } of NEEDS_A_PERSON_METRICS) {
      this.addAlarm(this, alarmId, {
        metric: new Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service }, statistic: 'Sum' }),
        description,
      });
    }
  }

  /**
   * Creates an alarm in `scope` that notifies the alarm topic when `metric` reaches `threshold` in one 5-minute
   * period. Missing data is healthy: most of these metrics only exist when something goes wrong.
   */
  addAlarm(scope: Construct, id: string, props: PipelineAlarmProps): Alarm {
    const alarm = new Alarm(scope, id, {
      metric: props.metric.with({ period: Duration.minutes(5) }),
      threshold: props.threshold ?? 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: props.description,
    });
    alarm.addAlarmAction(this.alarmAction);
    return alarm;
  }
}
