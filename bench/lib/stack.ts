/**
 * The parent side of the stack process (bench/lib/stack-process.ts): the local stack runs alone in a child process, so
 * its memory and CPU are measured apart from the benchmark's own (the CDK synthesis, the bundling, the floors) and from
 * the client fleet's. The benchmark reaches it as browsers and Stripe do (HTTP, WebSocket) and asks it, over the IPC
 * channel, only for what it measures about itself.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { LocalSecrets, LocalStackOptions } from '../../local/start.ts';
import type { CloudFormationTemplate } from '../../local/template.ts';

/** What the benchmark knows of the stack: its public addresses and the secrets Stripe and the workflow sign with. */
export interface StackInfo {
  /** The distribution: the dashboard's origin, where browsers and Stripe reach the API. */
  readonly url: string;
  /** The HTTP API's own origin (the gateway): the dev issuer, and where the workflow posts its callbacks. */
  readonly apiUrl: string;
  readonly wsUrl: string;
  readonly tableName: string;
  readonly secrets: LocalSecrets;
  readonly stateMachineArn: string;
  /** DynamoDB Local itself (the functions reach it through the local IAM proxy): the ack floor writes here. */
  readonly dynamoEndpoint: string;
}

export interface MemorySample {
  /** Resident set of the stack process: every thread (the function workers too) and DynamoDB Local's client side. */
  readonly rss: number;
  /** V8 heap in use on the stack's main thread. */
  readonly heapUsed: number;
}

export interface MemoryBreakdown extends MemorySample {
  /** V8 heap the main thread has committed (used or not). */
  readonly heapTotal: number;
  /** Memory of objects outside the main thread's V8 heap that JS holds (Buffers, ArrayBuffers). */
  readonly external: number;
  /** Anonymous resident pages (V8 heaps of every thread, malloc'd native memory) and file-backed ones (the code). */
  readonly rssAnonymous: number;
  readonly rssFile: number;
}

/** Billable units the stack counted between `startCounting` and `finishCounting`. */
export interface StackCounts {
  /** StateEntered + StateRetried events of the execution: what Standard workflows bill as state transitions. */
  readonly stateTransitions: number;
  readonly statesEntered: Record<string, number>;
  readonly executionStatus: string;
  /** Lambda invocations by function (folder name), as the Lambda service would count them. */
  readonly invocations: Record<string, number>;
  /** Callbacks the workflow runner posted, and how many of them were heartbeats. */
  readonly callbacks: { readonly total: number; readonly heartbeats: number };
  /** Item writes by entity and kind (INSERT / MODIFY / REMOVE), from the table's stream. */
  readonly itemWrites: Record<string, number>;
}

/** The calls the stack process answers, by name: their arguments and results. */
export interface StackCalls {
  /** Start date (epoch ms) of each execution, null for one that does not exist (yet). */
  executionStarts(executionArns: string[]): (number | null)[];
  usage(): MemorySample & { readonly cpuMicros: number };
  /** Where the stack process's RSS is, now: the main thread's V8 heap, memory outside it, file-backed pages. */
  memoryBreakdown(): MemoryBreakdown;
  startMemorySampling(): void;
  /** The largest RSS and heap seen since `startMemorySampling` (sampled every 20 ms). */
  stopMemorySampling(): MemorySample;
  startCounting(): void;
  /**
   * Waits for the first execution started since `startCounting` to end and for what it wrote to reach the stream's
   * consumers, then stops counting.
   */
  finishCounting(): StackCounts;
}

export type StackRequest =
  | { readonly id: number; readonly call: 'start'; readonly args: [LocalStackOptions, CloudFormationTemplate] }
  | {
      [K in keyof StackCalls]: { readonly id: number; readonly call: K; readonly args: Parameters<StackCalls[K]> };
    }[keyof StackCalls]
  | { readonly id: number; readonly call: 'stop'; readonly args: [] };

export type StackReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

const ENTRY = fileURLToPath(new URL('./stack-process.ts', import.meta.url));

/** The stack's public addresses and secrets (StackInfo, assigned by the constructor), and the calls it answers about itself. */
export interface StackProcess extends StackInfo {}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the constructor assigns every StackInfo field (Object.assign), which the interface declares.
export class StackProcess {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();

  private constructor(
    private readonly child: ChildProcess,
    info: StackInfo,
  ) {
    Object.assign(this, info);
  }

  /** Forks the stack process and starts the local stack there from `template` (synthesized by the caller). */
  static async start(options: LocalStackOptions, template: CloudFormationTemplate): Promise<StackProcess> {
    const child = fork(ENTRY, [], {
      execPath: process.execPath,
      // `BENCH_CPU_PROF=<dir>` writes the stack process's CPU profile there when it exits (docs/BENCHMARKS.md).
      execArgv: [
        '--import',
        'tsx',
        ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
      ],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`The stack process exited (${code}) before it was ready`);
    });
    const reply = once(child, 'message') as Promise<[StackReply]>;
    child.send({ id: -1, call: 'start', args: [options, template] } satisfies StackRequest);
    const [ready] = await Promise.race([reply, exited]);
    if (!ready.ok) throw new Error(`The stack process did not start: ${ready.error}`);
    const stack = new StackProcess(child, ready.result as StackInfo);
    child.on('message', (message: StackReply) => stack.settle(message));
    child.on('exit', (code) => {
      for (const { reject } of stack.pending.values()) reject(new Error(`The stack process exited (${code})`));
      stack.pending.clear();
    });
    return stack;
  }

  call<K extends keyof StackCalls>(call: K, ...args: Parameters<StackCalls[K]>): Promise<ReturnType<StackCalls[K]>> {
    const id = this.nextId++;
    const result = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.child.send({ id, call, args } as StackRequest);
    return result as Promise<ReturnType<StackCalls[K]>>;
  }

  /** Stops the local stack (DynamoDB Local too) and waits for the process to exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.send({ id: this.nextId++, call: 'stop', args: [] } satisfies StackRequest);
    await exited;
  }

  private settle(reply: StackReply): void {
    const waiting = this.pending.get(reply.id);
    this.pending.delete(reply.id);
    if (reply.ok) waiting?.resolve(reply.result);
    else waiting?.reject(new Error(`Stack process: ${reply.error}`));
  }
}
