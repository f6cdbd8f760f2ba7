/**
 * A function in a worker thread of its own, as Lambda runs each function in its own process: its handler, its SDK
 * clients and their CPU (request signing, JSON) on another core than the thread that runs the gateway and the stream
 * pollers. An invocation keeps its identity for local IAM: the worker runs it under the X-Ray trace id of the caller's
 * invocation (local/iam.ts), so the requests its SDK sends name the same invocation as an in-process handler's would.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Context } from 'aws-lambda';
import { InvokeStore } from '@aws/lambda-invoke-store';
import type { LocalAccount } from './gateway/lambda-context.ts';
import type { FunctionEntry, LambdaHandler } from './template.ts';

const ENTRY = new URL('./function-worker-thread.ts', import.meta.url);

/** What crosses to the worker: the event, the context's data (its methods are rebuilt there), the trace id. */
export interface WorkerInvocation {
  readonly id: number;
  readonly event: unknown;
  readonly context: { readonly functionName: string; readonly awsRequestId: string; readonly remainingMs: number };
  readonly traceId: string | undefined;
}

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | {
      readonly id: number;
      readonly ok: false;
      readonly error: { readonly name: string; readonly message: string; readonly stack?: string };
    };

export interface WorkerData {
  readonly entry: FunctionEntry;
  readonly account: LocalAccount;
}

export class FunctionWorker {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: WorkerReply) => {
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.ok) waiting?.resolve(reply.result);
      else
        waiting?.reject(
          Object.assign(new Error(reply.error.message), { name: reply.error.name, stack: reply.error.stack }),
        );
    });
    worker.on('error', (error) => {
      for (const { reject } of this.pending.values()) reject(error);
      this.pending.clear();
    });
  }

  /** Starts the worker (with the environment as it is now) and resolves once it has imported the handler. */
  static async start(entry: FunctionEntry, account: LocalAccount): Promise<FunctionWorker> {
    const worker = new Worker(ENTRY, {
      workerData: { entry, account } satisfies WorkerData,
      // `--cpu-prof` given to the process profiles each worker too (a profile per thread), as it does without execArgv.
      execArgv: [...process.execArgv.filter((flag) => flag.startsWith('--cpu-prof')), '--import', 'tsx'],
    });
    await once(worker, 'online');
    await once(worker, 'message');
    return new FunctionWorker(worker);
  }

  /** The handler, called like an in-process one: the caller's invocation (its trace id) goes along. */
  get handler(): LambdaHandler {
    return async (event: unknown, context: Context) => {
      const traceId = (await InvokeStore.getInstanceAsync()).getXRayTraceId();
      const id = this.nextId++;
      const result = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
      const { functionName, awsRequestId } = context;
      this.worker.postMessage({
        id,
        event,
        traceId,
        context: { functionName, awsRequestId, remainingMs: context.getRemainingTimeInMillis() },
      } satisfies WorkerInvocation);
      return result;
    };
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}
