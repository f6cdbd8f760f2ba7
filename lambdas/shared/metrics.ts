/**
 * The only way the handlers emit metrics (EMF through Powertools Metrics): by a name of the catalogue
 * (./metric-names.ts), with its unit. Ids that help find the record (`jobId`, `agentId`) go in as EMF properties, which
 * CloudWatch keeps in the log record but never turns into dimensions.
 */
import type { MiddlewareObj } from '@middy/core';
import { endedSteps, type UiStep } from '../domain/steps.ts';
import { metrics } from './logger.ts';
import {
  MEASURED_STEPS,
  PIPELINE_METRICS,
  type MeasuredStep,
  type ServiceMetricName,
  type StepMetricName,
} from './metric-names.ts';

type Properties = Readonly<Record<string, string>>;

/** Adds to a metric the handler's middleware (./middleware.ts) publishes at the end of the invocation. */
export function recordMetric(name: ServiceMetricName, value = 1): void {
  metrics.addMetric(name, PIPELINE_METRICS[name].unit, value);
}

/**
 * Publishes what an invocation recorded once it ends (answered or failed). Unlike Powertools' `logMetrics`, an
 * invocation that recorded none writes nothing: most fan-out batches and every task have none, and a warning line on
 * each would be all their logs said.
 */
export const publishRecordedMetrics: MiddlewareObj = {
  after: () => publishIfAny(),
  onError: () => publishIfAny(),
};

function publishIfAny(): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}

/** Publishes one metric at once, in an EMF record of its own, under the function's `service` dimension. */
export function publishMetric(name: ServiceMetricName, value: number, properties: Properties = {}): void {
  const single = metrics.singleMetric();
  addProperties(single, properties);
  single.addMetric(name, PIPELINE_METRICS[name].unit, value);
}

/**
 * Publishes a step metric at once under the `step` dimension alone: the same series whichever function recorded the
 * job event (the callback, finish-job, the sweeper), so one alarm per step sees them all.
 */
export function publishStepMetric(
  name: StepMetricName,
  step: MeasuredStep,
  value: number,
  properties: Properties = {},
): void {
  const single = metrics.singleMetric();
  single.clearDefaultDimensions();
  single.addDimension('step', step);
  addProperties(single, properties);
  single.addMetric(name, PIPELINE_METRICS[name].unit, value);
}

/**
 * Counts the steps a written job event ended: `StepDuration` for each completed one, `StepFailed` for the failed one.
 * `running` is where a provisioning ends, not a step it spends time in, so it is not measured.
 */
export function publishEndedSteps(
  ids: { jobId: string; agentId: string },
  before: readonly UiStep[],
  after: readonly UiStep[],
): void {
  for (const { key, outcome, durationMs } of endedSteps(before, after)) {
    const step = MEASURED_STEPS.find((measured) => measured === key);
    if (step === undefined) continue;
    if (outcome === 'completed') publishStepMetric('StepDuration', step, durationMs, ids);
    else publishStepMetric('StepFailed', step, 1, ids);
  }
}

function addProperties(single: ReturnType<typeof metrics.singleMetric>, properties: Properties): void {
  for (const [key, value] of Object.entries(properties)) single.addMetadata(key, value);
}
