/**
 * The dashboard, the alarms and their thresholds, and the metric catalogue (lambdas/shared/metric-names.ts): every
 * name a handler can emit is on the dashboard or an alarm, and everything they watch in the pipeline's namespace is a
 * name a handler emits.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MEASURED_STEPS, METRIC_NAMES, METRICS_NAMESPACE } from '../../lambdas/shared/metric-names.ts';
import { fromRepoRoot } from '../../lib/paths.ts';
import { functionLogicalId, synthesizePipeline } from './support.ts';

type Json = Record<string, any>;
let template: ReturnType<typeof synthesizePipeline>['template'];
let alarms: Json[];

beforeAll(() => {
  ({ template } = synthesizePipeline());
  alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => alarm.Properties as Json);
});

/** The dashboard's body as JSON, each CloudFormation reference in it written as `{ref}`. */
function dashboardBody(): Json {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const body = dashboards[0]!.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] };
  return JSON.parse(body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : '{ref}')).join(''));
}

/** Every metric of every graph widget: `[namespace, name, ...dimension pairs, options]` arrays, by widget title. */
function graphMetrics(): Map<string, unknown[][]> {
  const graphs = new Map<string, unknown[][]>();
  for (const widget of dashboardBody().widgets as Json[]) {
    if (widget.type !== 'metric') continue;
    graphs.set(widget.properties.title, widget.properties.metrics as unknown[][]);
  }
  return graphs;
}

/** The metric statistics an alarm reads: its own metric, or each metric of its metric math. */
function alarmMetrics(alarm: Json): Array<{ namespace: string; name: string; dimensions: Json; stat: string }> {
  if (alarm.MetricName !== undefined) {
    const dimensions = Object.fromEntries((alarm.Dimensions ?? []).map((d: Json) => [d.Name, d.Value]));
    return [{ namespace: alarm.Namespace, name: alarm.MetricName, dimensions, stat: alarm.Statistic }];
  }
  return (alarm.Metrics as Json[])
    .filter((query) => query.MetricStat !== undefined)
    .map(({ MetricStat: { Metric, Stat } }) => ({
      namespace: Metric.Namespace,
      name: Metric.MetricName,
      dimensions: Object.fromEntries((Metric.Dimensions ?? []).map((d: Json) => [d.Name, d.Value])),
      stat: Stat,
    }));
}

function expressionOf(alarm: Json): string | undefined {
  return (alarm.Metrics as Json[] | undefined)?.find((query) => query.Expression !== undefined)?.Expression;
}

/** The one alarm reading exactly these pipeline metrics (name and dimensions). */
function rateAlarm(reads: Array<{ name: string; dimensions: Json; stat: string }>): Json {
  const matching = alarms.filter((alarm) => {
    const metrics = alarmMetrics(alarm);
    return (
      metrics.length === reads.length &&
      reads.every((read) =>
        metrics.some(
          (metric) =>
            metric.namespace === METRICS_NAMESPACE &&
            metric.name === read.name &&
            metric.stat === read.stat &&
            JSON.stringify(metric.dimensions) === JSON.stringify(read.dimensions),
        ),
      )
    );
  });
  expect(matching).toHaveLength(1);
  return matching[0]!;
}

const RATE_ALARM = { EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' };

describe('dashboard', () => {
  it('shows the step durations (p50, p95) and failures of every measured step', () => {
    const graphs = graphMetrics();
    for (const [title, name, stat] of [
      ['Step duration p50 (ms)', 'StepDuration', 'p50'],
      ['Step duration p95 (ms)', 'StepDuration', 'p95'],
      ['Failures by step', 'StepFailed', 'Sum'],
    ] as const) {
      expect(graphs.get(title)).toEqual(
        MEASURED_STEPS.map((step) => [METRICS_NAMESPACE, name, 'step', step, expect.objectContaining({ stat })]),
      );
    }
  });

  it('shows callback lag, webhooks received and refused, and the fan-out', () => {
    const graphs = graphMetrics();
    const names = (title: string) => graphs.get(title)?.map((metric) => metric[1]);
    expect(names('Callback lag (ms, signed timestamp to our write)')).toEqual([
      'CallbackLag',
      'CallbackLag',
      'CallbackLag',
    ]);
    expect(names('Webhooks received / refused')).toEqual([
      'StripeEventsReceived',
      'StripeEventsRefused',
      'CallbacksReceived',
      'CallbacksRefused',
    ]);
    expect(names('Fan-out: deliveries, failures, gone connections')?.sort()).toEqual([
      'FanoutDeliveries',
      'FanoutDeliveryFailures',
      'GoneConnections',
    ]);
  });

  it('shows the executions of both state machines: started, succeeded, failed, timed out', () => {
    const executions = graphMetrics().get('Executions: started, succeeded, failed, timed out')!;
    const shown = executions.map((metric) => `${metric[0]} ${metric[1]}`);
    const perMachine = ['ExecutionsStarted', 'ExecutionsSucceeded', 'ExecutionsFailed', 'ExecutionsTimedOut'];
    expect(shown).toEqual([...perMachine, ...perMachine].map((name) => `AWS/States ${name}`));
    expect(Object.keys(template.findResources('AWS::StepFunctions::StateMachine'))).toHaveLength(2);
  });

  it('shows the iterator age of the function of every event source mapping', () => {
    const shown = graphMetrics()
      .get('Stream iterator age (max, ms)')!
      .map((metric) => metric[3]);
    const mapped = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')).map(
      (mapping) => mapping.Properties.FunctionName.Ref,
    );
    expect(mapped).toHaveLength(2);
    expect(shown).toHaveLength(mapped.length);
    expect(
      graphMetrics()
        .get('Stream iterator age (max, ms)')!
        .every((metric) => metric[1] === 'IteratorAge'),
    ).toBe(true);
  });

  it('shows the depth of every failure queue and the 4xx / 5xx of both APIs', () => {
    const graphs = graphMetrics();
    const queues = Object.keys(template.findResources('AWS::SQS::Queue'));
    expect(graphs.get('Failure queues (DLQ depth)')!.map((metric) => metric[1])).toEqual(
      queues.map(() => 'ApproximateNumberOfMessagesVisible'),
    );
    expect(graphs.get('API Gateway 4xx / 5xx')!.map((metric) => `${metric[0]} ${metric[1]}`)).toEqual([
      'AWS/ApiGateway 4xx',
      'AWS/ApiGateway 5xx',
      'AWS/ApiGateway ClientError',
      'AWS/ApiGateway ExecutionError',
    ]);
  });
});

describe('alarms', () => {
  it.each(MEASURED_STEPS)(
    'alarm on the failure rate at %s: 3 or more failures in an hour and 20 % of the step',
    (step) => {
      const alarm = rateAlarm([
        { name: 'StepFailed', dimensions: { step }, stat: 'Sum' },
        { name: 'StepDuration', dimensions: { step }, stat: 'SampleCount' },
      ]);
      expect(alarm).toMatchObject({ ...RATE_ALARM, Threshold: 20 });
      expect(expressionOf(alarm)).toBe(
        'IF(FILL(part, 0) >= 3, 100 * FILL(part, 0) / (FILL(part, 0) + FILL(rest, 0)), 0)',
      );
      expect(
        (alarm.Metrics as Json[]).filter((query) => query.MetricStat).map((query) => query.MetricStat.Period),
      ).toEqual([3600, 3600]);
    },
  );

  it.each([
    ['StripeEventsRefused', 'StripeEventsReceived', 'stripe-webhook'],
    ['CallbacksRefused', 'CallbacksReceived', 'github-callback'],
  ])('alarms on the refusal rate of %s: 5 or more in 5 minutes and half of all', (refused, received, service) => {
    const alarm = rateAlarm([
      { name: refused, dimensions: { service }, stat: 'Sum' },
      { name: received, dimensions: { service }, stat: 'Sum' },
    ]);
    expect(alarm).toMatchObject({ ...RATE_ALARM, Threshold: 50 });
    expect(expressionOf(alarm)).toMatch(/^IF\(FILL\(part, 0\) >= 5,/);
  });

  it("alarms on the fan-out's error rate: 10 or more failed posts in 5 minutes and 5 % of all", () => {
    const alarm = rateAlarm([
      { name: 'FanoutDeliveryFailures', dimensions: { service: 'fanout' }, stat: 'Sum' },
      { name: 'FanoutDeliveries', dimensions: { service: 'fanout' }, stat: 'Sum' },
    ]);
    expect(alarm).toMatchObject({ ...RATE_ALARM, Threshold: 5 });
    expect(expressionOf(alarm)).toMatch(/^IF\(FILL\(part, 0\) >= 10,/);
  });

  it.each([
    ['fanout', 60_000],
    ['execution-starter', 300_000],
  ] as const)('alarms when the %s stream function reads records older than %i ms', (name, threshold) => {
    expect(alarms).toContainEqual(
      expect.objectContaining({
        Namespace: 'AWS/Lambda',
        MetricName: 'IteratorAge',
        Statistic: 'Maximum',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionLogicalId(template, name) } }],
        Threshold: threshold,
        Period: 300,
        ...RATE_ALARM,
      }),
    );
  });

  it('alarms at the first message in every failure queue and at every timed-out execution', () => {
    for (const queueId of Object.keys(template.findResources('AWS::SQS::Queue'))) {
      expect(alarms).toContainEqual(
        expect.objectContaining({
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
          Threshold: 1,
        }),
      );
    }
    for (const machineId of Object.keys(template.findResources('AWS::StepFunctions::StateMachine'))) {
      expect(alarms).toContainEqual(
        expect.objectContaining({
          Namespace: 'AWS/States',
          MetricName: 'ExecutionsTimedOut',
          Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: machineId } }],
          Threshold: 1,
        }),
      );
    }
  });

  it.each(['PaidCheckoutNotProvisioned', 'DuplicatePaymentRefunded'])(
    'alarms at the first %s, whatever its reason (not a dimension)',
    (metricName) => {
      expect(alarms).toContainEqual(
        expect.objectContaining({
          Namespace: METRICS_NAMESPACE,
          MetricName: metricName,
          Dimensions: [{ Name: 'service', Value: 'stripe-webhook' }],
          Threshold: 1,
        }),
      );
    },
  );
});

describe('metric catalogue', () => {
  /** Every TypeScript file under `lambdas/`, repository-relative. */
  function handlerSources(): Array<{ path: string; source: string }> {
    const root = fromRepoRoot('lambdas');
    return readdirSync(root, { recursive: true, encoding: 'utf8' })
      .filter((path) => path.endsWith('.ts'))
      .map((path) => ({
        path: relative(fromRepoRoot('.'), join(root, path)),
        source: readFileSync(join(root, path), 'utf8'),
      }));
  }

  /** Pipeline metric names the dashboard and the alarms read. */
  function watchedNames(): Set<string> {
    const watched = new Set<string>();
    for (const alarm of alarms) {
      for (const metric of alarmMetrics(alarm)) if (metric.namespace === METRICS_NAMESPACE) watched.add(metric.name);
    }
    for (const metrics of graphMetrics().values()) {
      for (const metric of metrics) if (metric[0] === METRICS_NAMESPACE) watched.add(metric[1] as string);
    }
    return watched;
  }

  it('handlers emit only through lambdas/shared/metrics.ts, whose functions take catalogue names (typed)', () => {
    const emitting = handlerSources()
      .filter(({ source }) => /\.(addMetric|singleMetric|publishStoredMetrics)\(/.test(source))
      .map(({ path }) => path);
    expect(emitting).toEqual(['lambdas/shared/metrics.ts']);
  });

  it('the names the handlers emit are exactly the ones the dashboard and the alarms watch', () => {
    const emitted = METRIC_NAMES.filter((name) =>
      handlerSources().some(
        ({ path, source }) => path !== 'lambdas/shared/metric-names.ts' && source.includes(`'${name}'`),
      ),
    );
    expect(emitted.sort()).toEqual([...METRIC_NAMES].sort());
    expect([...watchedNames()].sort()).toEqual([...METRIC_NAMES].sort());
  });
});
