/**
 * Every custom metric of the pipeline, in one catalogue that the handlers (through lambdas/shared/metrics.ts) and the
 * CDK dashboard and alarms (lib/constructs/observability.ts) both read, so a name cannot drift between what is emitted
 * and what is watched. A test (test/infra/observability.test.ts) fails when a handler emits a name that no dashboard widget
 * or alarm uses, or the other way round. No AWS imports: lib/ reads it at synth time.
 *
 * Dimensions stay low-cardinality: the Powertools `service` (the function) or the UI `step`; ids such as `jobId` go in
 * the EMF record's properties, never in a dimension.
 */
import { UI_STEP_KEYS, type UiStepKey } from '../domain/steps.ts';

/** CloudWatch namespace of the pipeline's own metrics (`POWERTOOLS_METRICS_NAMESPACE` of every function). */
export const METRICS_NAMESPACE = 'AgentPipeline';

/** The steps a provisioning spends time in and can fail at: all but `running`, which is where it ends. */
export const MEASURED_STEPS = UI_STEP_KEYS.filter((step): step is Exclude<UiStepKey, 'running'> => step !== 'running');
export type MeasuredStep = (typeof MEASURED_STEPS)[number];

/** The Powertools service names (function folders) that emit metrics of their own. */
type EmittingService = 'stripe-webhook' | 'github-callback' | 'finish-job' | 'fanout';

export interface MetricDefinition {
  /** A CloudWatch unit (the values of Powertools' `MetricUnit`). */
  readonly unit: 'Count' | 'Milliseconds';
  /**
   * Dimensions beside the namespace: the emitting function's `service` (Powertools adds it), or the `step` alone for
   * the step metrics, which whichever function records a job event emits (the callback, finish-job, the sweeper).
   */
  readonly dimension: { readonly service: EmittingService } | 'step';
  /** What one data point means. */
  readonly meaning: string;
}

export const PIPELINE_METRICS = {
  StripeEventsReceived: {
    unit: 'Count',
    dimension: { service: 'stripe-webhook' },
    meaning: 'A Stripe event was verified and answered 200',
  },
  StripeEventsRefused: {
    unit: 'Count',
    dimension: { service: 'stripe-webhook' },
    meaning: 'A Stripe webhook request was answered with anything but 200 (mostly a signature that does not verify)',
  },
  StripeWebhookSecretInvalid: {
    unit: 'Count',
    dimension: { service: 'stripe-webhook' },
    meaning: 'A Stripe webhook was answered 503 configuration_error: the webhook secret is not "whsec_..."',
  },
  JobCreated: {
    unit: 'Count',
    dimension: { service: 'stripe-webhook' },
    meaning: 'A paid checkout created a provisioning job',
  },
  PaidCheckoutNotProvisioned: {
    unit: 'Count',
    dimension: { service: 'stripe-webhook' },
    meaning: 'A customer paid and nothing was provisioned (the reason is a property of the record and in the log)',
  },
  DuplicatePaymentRefunded: {
    unit: 'Count',
    dimension: { service: 'stripe-webhook' },
    meaning: 'A second subscription for one agent was cancelled and refunded',
  },
  CallbacksReceived: {
    unit: 'Count',
    dimension: { service: 'github-callback' },
    meaning: 'A workflow callback was verified and answered 200',
  },
  CallbacksRefused: {
    unit: 'Count',
    dimension: { service: 'github-callback' },
    meaning: 'A workflow callback was answered with anything but 200',
  },
  CallbackSecretInvalid: {
    unit: 'Count',
    dimension: { service: 'github-callback' },
    meaning:
      'A workflow callback was answered 503 configuration_error: the callback secret is not a Standard Webhooks secret',
  },
  CallbackLag: {
    unit: 'Milliseconds',
    dimension: { service: 'github-callback' },
    meaning: "From the workflow's signed webhook-timestamp to our write of its report",
  },
  StepDuration: {
    unit: 'Milliseconds',
    dimension: 'step',
    meaning: 'A provisioning completed this step in this time (its SampleCount is the completions)',
  },
  StepFailed: {
    unit: 'Count',
    dimension: 'step',
    meaning: 'A provisioning failed at this step',
  },
  ActivationFailed: {
    unit: 'Count',
    dimension: { service: 'finish-job' },
    meaning: 'An activation gave up with the VM up',
  },
  RollbackFailed: {
    unit: 'Count',
    dimension: { service: 'finish-job' },
    meaning: 'A rollback gave up: cloud resources may still exist',
  },
  FanoutDeliveries: {
    unit: 'Count',
    dimension: { service: 'fanout' },
    meaning: 'A message was posted to a WebSocket connection (or found it gone)',
  },
  FanoutDeliveryFailures: {
    unit: 'Count',
    dimension: { service: 'fanout' },
    meaning: 'A post to a WebSocket connection failed for a reason but 410 (its record is retried)',
  },
  GoneConnections: {
    unit: 'Count',
    dimension: { service: 'fanout' },
    meaning: 'A WebSocket connection answered 410 and was forgotten',
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricName = keyof typeof PIPELINE_METRICS;
export const METRIC_NAMES = Object.keys(PIPELINE_METRICS) as MetricName[];
/** The metrics a function counts under its own `service` dimension. */
export type ServiceMetricName = {
  [Name in MetricName]: (typeof PIPELINE_METRICS)[Name]['dimension'] extends 'step' ? never : Name;
}[MetricName];
export type StepMetricName = Exclude<MetricName, ServiceMetricName>;
