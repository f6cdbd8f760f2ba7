/** The worker side of local/function-worker.ts: imports one function's handler and runs the invocations it is sent. */
import { parentPort, workerData } from 'node:worker_threads';
import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store';
import type { WorkerData, WorkerInvocation, WorkerReply } from './function-worker.ts';
import { createLambdaContext } from './gateway/lambda-context.ts';
import { importHandler } from './template.ts';

const { entry, account } = workerData as WorkerData;
// Created before any SDK client, so that concurrent invocations each keep their own trace id (as in local/iam.ts).
const store = await InvokeStore.getInstanceAsync(true);
const handler = await importHandler(entry);
const port = parentPort!;

port.on('message', ({ id, event, context, traceId }: WorkerInvocation) => {
  const lambdaContext = createLambdaContext(context.functionName, context.awsRequestId, account, context.remainingMs);
  const run = () => handler(event, lambdaContext);
  const invocation =
    traceId === undefined ? run() : store.run({ [InvokeStoreBase.PROTECTED_KEYS.X_RAY_TRACE_ID]: traceId }, run);
  invocation.then(
    (result) => port.postMessage({ id, ok: true, result } satisfies WorkerReply),
    (error: unknown) => {
      const { name, message, stack } = error instanceof Error ? error : new Error(String(error));
      port.postMessage({
        id,
        ok: false,
        error: { name, message, ...(stack === undefined ? {} : { stack }) },
      } satisfies WorkerReply);
    },
  );
});
port.postMessage({ ready: true });
