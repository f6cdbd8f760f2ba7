/**
 * What the handlers' metrics look like in the log (EMF, read by CloudWatch): the catalogue's unit, the dimension the
 * dashboard and alarms read, and the ids as properties, never as dimensions.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { outputOf, emfRecordsOf } from '../support/console-output.ts';
import { advanceSteps, CANCELLED_STEP, failSteps, initialSteps } from '../../lambdas/domain/steps.ts';

type Emf = Record<string, any> & { _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][]; Metrics: unknown[] }> } };

let metricsModule: typeof import('../../lambdas/shared/metrics.ts');
let middlewareModule: typeof import('../../lambdas/shared/middleware.ts');
beforeAll(async () => {
  vi.stubEnv('POWERTOOLS_SERVICE_NAME', 'github-callback');
  vi.stubEnv('POWERTOOLS_METRICS_NAMESPACE', 'AgentPipeline');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  metricsModule = await import('../../lambdas/shared/metrics.ts');
  middlewareModule = await import('../../lambdas/shared/middleware.ts');
});

describe('handler metrics (EMF)', () => {
  it('publishes a service metric under the function’s service, with ids as properties', async () => {
    const [record] = await emfRecordsOf<Emf>(() => metricsModule.publishMetric('CallbackLag', 850, { jobId: 'job_1' }));
    expect(record).toMatchObject({ service: 'github-callback', CallbackLag: 850, jobId: 'job_1' });
    expect(record!._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: 'AgentPipeline',
        Dimensions: [['service']],
        Metrics: [{ Name: 'CallbackLag', Unit: 'Milliseconds' }],
      },
    ]);
  });

  it('publishes the steps a write ended under the step alone, whichever function wrote it', async () => {
    const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds)).toISOString();
    const queued = advanceSteps(initialSteps(), 'queued', at(0));
    const creating = advanceSteps(queued, 'creating', at(4));
    const ids = { jobId: 'job_1', agentId: 'agent_1' };

    const [completed] = await emfRecordsOf<Emf>(() => metricsModule.publishEndedSteps(ids, queued, creating));
    expect(completed).toMatchObject({ step: 'queued', StepDuration: 4_000, ...ids });
    expect(completed).not.toHaveProperty('service');
    expect(completed!._aws.CloudWatchMetrics[0]).toMatchObject({
      Dimensions: [['step']],
      Metrics: [{ Name: 'StepDuration', Unit: 'Milliseconds' }],
    });

    const [failed] = await emfRecordsOf<Emf>(() =>
      metricsModule.publishEndedSteps(ids, creating, failSteps(creating, at(9), { error: 'boom' })),
    );
    expect(failed).toMatchObject({ step: 'creating', StepFailed: 1, ...ids });
    expect(failed!._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['step']]);
  });

  it("counts no failure for a step an operator cancelled: a cancel must not raise a step's failure-rate alarm", async () => {
    const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds)).toISOString();
    const creating = advanceSteps(initialSteps(), 'creating', at(0));
    const cancelled = failSteps(creating, at(9), {
      error: 'cancelled by operator:op: duplicate',
      failedStep: CANCELLED_STEP,
    });
    const ids = { jobId: 'job_1', agentId: 'agent_1' };
    expect(await emfRecordsOf<Emf>(() => metricsModule.publishEndedSteps(ids, creating, cancelled))).toEqual([]);
  });

  it('does not measure `running`, where a provisioning ends', async () => {
    const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds)).toISOString();
    const configuring = advanceSteps(initialSteps(), 'configuring', at(0));
    const records = await emfRecordsOf<Emf>(() =>
      metricsModule.publishEndedSteps(
        { jobId: 'job_1', agentId: 'agent_1' },
        configuring,
        advanceSteps(configuring, null, at(3)),
      ),
    );
    expect(records.map((record) => record.step)).toEqual(['configuring']);
  });

  describe('the handler middleware', () => {
    const context = { functionName: 'fanout', awsRequestId: 'request-1' } as Context;
    const handlerRecording = (recorded: number) =>
      middy(async () => {
        if (recorded > 0) metricsModule.recordMetric('FanoutDeliveries', recorded);
        return 'done';
      }).use(middlewareModule.handlerMiddleware());

    it('publishes what an invocation recorded in one EMF record when it ends', async () => {
      const records = await emfRecordsOf<Emf>(() => handlerRecording(3)({}, context));
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ service: 'github-callback', FanoutDeliveries: 3 });
    });

    it('writes nothing for an invocation that recorded no metric (no empty-metrics warning either)', async () => {
      expect(await outputOf(() => handlerRecording(0)({}, context))).toEqual([]);
    });
  });
});
