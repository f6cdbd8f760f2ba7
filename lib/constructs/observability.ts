import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import {
  MEASURED_STEPS,
  METRICS_NAMESPACE,
  PIPELINE_METRICS,
  type MeasuredStep,
  type ServiceMetricName,
  type StepMetricName,
} from '../../lambdas/shared/metric-names.ts';
import { acknowledgeGuardRule } from '../guard.ts';

export interface ObservabilityProps {
  /**
   * Address subscribed to every alarm.
   * @default - no subscription; subscribe to the topic out of band
   */
  readonly alarmEmail?: string;
}

/** What {@link Observability.addAlarm} watches: any metric, or metric math, that must stay below a threshold. */
export interface PipelineAlarmProps {
  readonly metric: Metric | MathExpression;
  /** Alarm when the metric reaches this value. @default 1 */
  readonly threshold?: number;
  /** The period the metric is taken over (one period evaluated). @default Duration.minutes(5) */
  readonly period?: Duration;
  readonly description: string;
}

/** The graphs of the dashboard that constructs add their own resources' metrics to. */
export type ResourceGraph = 'executions' | 'iteratorAge' | 'failureQueues' | 'apiErrors';

/** The CloudWatch metric of a catalogue metric its function emits under its Powertools `service` dimension. */
export function serviceMetric(name: ServiceMetricName, statistic = 'Sum'): Metric {
  const { service } = PIPELINE_METRICS[name].dimension;
  return new Metric({ namespace: METRICS_NAMESPACE, metricName: name, dimensionsMap: { service }, statistic });
}

/** The CloudWatch metric of a step metric (`StepDuration`, `StepFailed`) for one step. */
export function stepMetric(name: StepMetricName, step: MeasuredStep, statistic: string): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { step },
    statistic,
    label: `${step} ${statistic}`,
  });
}

/**
 * `part` as a percentage of `part + rest`, and 0 while `part` stays below `floor` in the period: a handful of events
 * makes no rate (one failure of one provisioning is 100 %).
 */
function percentOnceAbove(part: Metric, rest: Metric, floor: number, label: string): MathExpression {
  return new MathExpression({
    expression: `IF(FILL(part, 0) >= ${floor}, 100 * FILL(part, 0) / (FILL(part, 0) + FILL(rest, 0)), 0)`,
    usingMetrics: { part, rest },
    label,
  });
}

/** The endpoints outside parties call, by the metrics their `webhookHandler` counts (any answer but 200 is refused). */
const WEBHOOKS = [
  {
    id: 'StripeEventsRefusalRateAlarm',
    received: 'StripeEventsReceived',
    refused: 'StripeEventsRefused',
    what: 'Stripe webhook events',
  },
  {
    id: 'CallbacksRefusalRateAlarm',
    received: 'CallbacksReceived',
    refused: 'CallbacksRefused',
    what: 'workflow callbacks',
  },
] as const satisfies ReadonlyArray<{
  id: string;
  received: ServiceMetricName;
  refused: ServiceMetricName;
  what: string;
}>;

/**
 * Things that were set right automatically, or could not be, that a person must know about at their first occurrence.
 */
const NEEDS_A_PERSON_METRICS = {
  StripeWebhookSecretInvalid:
    'The Stripe webhook secret is not in its format: every Stripe event is answered 503 until it is fixed',
  CallbackSecretInvalid:
    'The callback secret is not a Standard Webhooks secret: every workflow callback is answered 503 until it is fixed',
  PaidCheckoutNotProvisioned:
    'A customer paid and nothing was provisioned (agent busy or gone, or the checkout metadata invalid): a person sorts it out',
  DuplicatePaymentRefunded:
    'A customer paid twice for one agent: the second subscription was cancelled and refunded (recorded on the agent)',
} as const satisfies Partial<Record<ServiceMetricName, string>>;

/**
 * Thresholds, each explained in docs/OPERATIONS.md beside its runbook line.
 * - Webhooks: at least 5 refused in 5 minutes (one is an internet scanner) and half of all requests: a wrong or
 *   half-rotated secret refuses every request, and the senders retry each one.
 * - Steps: at least 3 failures at one step in an hour and a fifth of the provisionings that ended that step there.
 * - Fan-out: at least 10 failed posts in 5 minutes and 5 % of all posts (a 410 is not a failure).
 */
export const ALARM_THRESHOLDS = {
  webhookRefusals: { floor: 5, percent: 50, period: Duration.minutes(5) },
  stepFailures: { floor: 3, percent: 20, period: Duration.hours(1) },
  fanoutFailures: { floor: 10, percent: 5, period: Duration.minutes(5) },
} as const;

/**
 * The one alarm topic of the pipeline, the one CloudWatch dashboard, the alarms on the pipeline's own metrics
 * (lambdas/shared/metric-names.ts), and the helpers every construct uses to alarm and to show its resources.
 * Runbook of every alarm: docs/OPERATIONS.md.
 */
export class Observability extends Construct {
  /** Every alarm of the stack notifies this topic. */
  public readonly alarmTopic: Topic;
  public readonly dashboard: Dashboard;
  private readonly alarmAction: SnsAction;
  private readonly resourceGraphs: Record<ResourceGraph, GraphWidget>;

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

    const { webhookRefusals, stepFailures, fanoutFailures } = ALARM_THRESHOLDS;
    for (const { id: alarmId, received, refused, what } of WEBHOOKS) {
      this.addAlarm(this, alarmId, {
        metric: percentOnceAbove(
          serviceMetric(refused),
          serviceMetric(received),
          webhookRefusals.floor,
          `% of ${what} refused`,
        ),
        threshold: webhookRefusals.percent,
        period: webhookRefusals.period,
        description: `Many ${what} refused: a wrong or half-rotated secret, or someone probing the endpoint`,
      });
    }
    for (const [metricName, description] of Object.entries(NEEDS_A_PERSON_METRICS)) {
      this.addAlarm(this, `${metricName}Alarm`, {
        metric: serviceMetric(metricName as keyof typeof NEEDS_A_PERSON_METRICS),
        description,
      });
    }
    for (const step of MEASURED_STEPS) {
      this.addAlarm(this, `StepFailureRate${pascalCase(step)}Alarm`, {
        metric: percentOnceAbove(
          stepMetric('StepFailed', step, 'Sum'),
          stepMetric('StepDuration', step, 'SampleCount'),
          stepFailures.floor,
          `% of provisionings failed at ${step}`,
        ),
        threshold: stepFailures.percent,
        period: stepFailures.period,
        description: `Provisionings fail at the ${step} step`,
      });
    }
    this.addAlarm(this, 'FanoutErrorRateAlarm', {
      metric: percentOnceAbove(
        serviceMetric('FanoutDeliveryFailures'),
        serviceMetric('FanoutDeliveries'),
        fanoutFailures.floor,
        '% of WebSocket posts failed',
      ),
      threshold: fanoutFailures.percent,
      period: fanoutFailures.period,
      description: 'The fan-out fails to post to WebSocket connections: dashboards stop updating live',
    });

    this.resourceGraphs = {
      executions: new GraphWidget({ title: 'Executions: started, succeeded, failed, timed out', width: 12 }),
      iteratorAge: new GraphWidget({ title: 'Stream iterator age (max, ms)', width: 12 }),
      failureQueues: new GraphWidget({ title: 'Failure queues (DLQ depth)', width: 12 }),
      apiErrors: new GraphWidget({ title: 'API Gateway 4xx / 5xx', width: 12 }),
    };
    const measured = (name: StepMetricName, statistic: string) =>
      MEASURED_STEPS.map((step) => stepMetric(name, step, statistic));
    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown:
          '# Agent pipeline\nEvery alarm has a runbook line in docs/OPERATIONS.md, with the Logs Insights query that shows one job across functions.',
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      this.resourceGraphs.executions,
      new GraphWidget({
        title: 'Jobs, and what needs a person',
        width: 12,
        left: (
          [
            'JobCreated',
            'PaidCheckoutNotProvisioned',
            'DuplicatePaymentRefunded',
            'ActivationFailed',
            'RollbackFailed',
          ] as const
        ).map((name) => serviceMetric(name)),
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'Step duration p50 (ms)', width: 8, left: measured('StepDuration', 'p50') }),
      new GraphWidget({ title: 'Step duration p95 (ms)', width: 8, left: measured('StepDuration', 'p95') }),
      new GraphWidget({ title: 'Failures by step', width: 8, left: measured('StepFailed', 'Sum') }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Callback lag (ms, signed timestamp to our write)',
        width: 8,
        left: ['p50', 'p95', 'Maximum'].map((statistic) => serviceMetric('CallbackLag', statistic)),
      }),
      new GraphWidget({
        title: 'Webhooks received / refused',
        width: 8,
        left: WEBHOOKS.flatMap(({ received, refused }) => [serviceMetric(received), serviceMetric(refused)]),
      }),
      new GraphWidget({
        title: 'Fan-out: deliveries, failures, gone connections',
        width: 8,
        left: [serviceMetric('FanoutDeliveries'), serviceMetric('GoneConnections')],
        right: [serviceMetric('FanoutDeliveryFailures')],
      }),
    );
    this.dashboard.addWidgets(this.resourceGraphs.iteratorAge, this.resourceGraphs.failureQueues);
    this.dashboard.addWidgets(this.resourceGraphs.apiErrors);
  }

  /**
   * Creates an alarm in `scope` that notifies the alarm topic when `metric` reaches `threshold` in one period (5
   * minutes unless given). Missing data is healthy: most of these metrics only exist when something goes wrong.
   */
  addAlarm(scope: Construct, id: string, props: PipelineAlarmProps): Alarm {
    const alarm = new Alarm(scope, id, {
      metric: props.metric.with({ period: props.period ?? Duration.minutes(5) }),
      threshold: props.threshold ?? 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: props.description,
    });
    alarm.addAlarmAction(this.alarmAction);
    return alarm;
  }

  /**
   * Alarms when the records a stream function reads wait longer than `maxAge` (the event source mapping's
   * `IteratorAge`, the age of the last record of a batch when it was read), and shows that age on the dashboard.
   */
  watchStream(fn: IFunction, label: string, maxAge: Duration): void {
    const iteratorAge = fn.metric('IteratorAge', { statistic: 'Maximum' });
    this.addAlarm(fn, 'IteratorAgeAlarm', {
      metric: iteratorAge,
      threshold: maxAge.toMilliseconds(),
      description: `${label} reads the table stream late: records wait over ${maxAge.toHumanString()}`,
    });
    this.showOnDashboard('iteratorAge', iteratorAge.with({ label }));
  }

  /** Shows a resource's metrics (labelled) on one of the dashboard's shared graphs. */
  showOnDashboard(graph: ResourceGraph, ...metrics: IMetric[]): void {
    for (const metric of metrics) this.resourceGraphs[graph].addLeftMetric(metric);
  }
}

function pascalCase(step: string): string {
  return step.charAt(0).toUpperCase() + step.slice(1);
}
