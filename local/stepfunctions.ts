/**
 * Step Functions on the local runtime: the same ASL as AWS, with what `aws-local-stepfunctions` lacks.
 * See docs/ARCHITECTURE.md, "Local runtime".
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';

/** An in-process stand-in for a Lambda function: gets the invocation payload, returns the function's result. */
export type LocalFunction = (payload: unknown) => Promise<unknown>;

export interface LocalStepFunctionsOptions {
  /** ASL by state machine ARN, with every `${...}` substitution already applied (JSON text or parsed). */
  readonly definitions: Readonly<Record<string, string | object>>;
  /** The function behind each `FunctionName` the definitions invoke (an ARN in our ASL). */
  readonly functions: Readonly<Record<string, LocalFunction>>;
  /**
   * Milliseconds to wait before each retry, by state name, instead of the `Retry` intervals (tests keep them short).
   * @default the intervals of the definition
   */
  readonly retryIntervalOverrides?: Readonly<Record<string, number>>;
  /**
   * Milliseconds a Wait state waits, by state name, instead of its `Seconds` (tests keep them short).
   * @default the waits of the definition
   */
  readonly waitTimeOverrides?: Readonly<Record<string, number>>;
  /**
   * Checks that a state machine's role may invoke a function (`lambda:InvokeFunction`): resolves with AWS's denial
   * message, or undefined when allowed. A denied Task fails with `Lambda.AWSLambdaException`, as in AWS. @default none
   */
  readonly authorizeInvoke?: (stateMachineArn: string, functionArn: string) => Promise<string | undefined>;
}

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** What DescribeExecution answers. */
export interface ExecutionDescription {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  /** The input as given, JSON text. */
  input: string;
  /** JSON text, once SUCCEEDED. */
  output?: string;
  error?: string;
  cause?: string;
  startDate: Date;
  stopDate?: Date;
}

/** The AWS error codes this runtime answers with (the `__type` of the API's error body). */
export type StepFunctionsErrorCode =
  | 'ExecutionAlreadyExists'
  | 'ExecutionDoesNotExist'
  | 'StateMachineDoesNotExist'
  | 'InvalidArn'
  | 'InvalidName'
  | 'InvalidExecutionInput'
  | 'InvalidOutput'
  | 'InvalidToken'
  | 'TaskDoesNotExist'
  | 'TaskTimedOut';

/** A refused API call, named like the AWS error so the local endpoint can answer it with the same `__type`. */
export class StepFunctionsError extends Error {
  constructor(
    readonly code: StepFunctionsErrorCode,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

type RunOptions = NonNullable<Parameters<StateMachine['run']>[1]>;
type TaskHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;
type LibraryEvent = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer Event> ? Event : never;

/** Events for logs and tests: an execution's start and end, and each state event of the library. */
export interface LocalStepFunctionsEvents {
  execution: [{ type: 'started' | 'succeeded' | 'failed' | 'aborted'; execution: ExecutionDescription }];
  state: [{ executionArn: string; event: LibraryEvent }];
}

const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
const LAMBDA_INVOKE_WAIT_FOR_TASK_TOKEN = 'arn:aws:states:::lambda:invoke.waitForTaskToken';
/** What `$$.Task.Token` resolves to inside the library; swapped for the task's own token before the function runs. */
const TASK_TOKEN_PLACEHOLDER = 'urn:local-stepfunctions:task-token';
/** Keeps the library's own task timeout (60 s by default) out of the way: this module enforces the real ones. */
const LIBRARY_TASK_TIMEOUT_SECONDS = 2_000_000;
const TOKEN_PREFIX = 'AQ';
// biome-ignore lint/suspicious/noControlCharactersInRegex: Step Functions refuses names with control characters (StartExecution `name`), so the rule names them.
const EXECUTION_NAME = /^[^\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]{1,80}$/;

/** How this module runs one Task state. */
interface TaskSpec {
  readonly waitForTaskToken: boolean;
  readonly timeoutSeconds?: number;
  readonly heartbeatSeconds?: number;
}

/** What the rewritten `Parameters` of a Task state resolve to (see `rewriteTaskState`). */
interface TaskInvocation {
  Input: { FunctionName?: unknown; Payload?: unknown };
  TimeoutSeconds?: unknown;
  HeartbeatSeconds?: unknown;
}

interface PreparedStateMachine {
  readonly machine: StateMachine;
  readonly tasks: ReadonlyMap<string, TaskSpec>;
}

interface WaitingTask {
  readonly token: string;
  readonly executionArn: string;
  readonly heartbeatSeconds?: number;
  readonly result: PromiseWithResolvers<unknown>;
  heartbeatTimer?: NodeJS.Timeout;
  timeoutTimer?: NodeJS.Timeout;
}

interface Execution {
  readonly description: ExecutionDescription;
  readonly abort: () => void;
  readonly settled: Promise<ExecutionDescription>;
  readonly waitingTokens: Set<string>;
}

/**
 * Step Functions (Standard workflows) in this process. Known difference from AWS: `States.TaskFailed` in a Retry or
 * Catch also matches the `States.Timeout` this class raises for a task (AWS excludes it); our ASL catches `States.ALL`.
 */
export class LocalStepFunctions extends EventEmitter<LocalStepFunctionsEvents> {
  private readonly stateMachines = new Map<string, PreparedStateMachine>();
  private readonly functions: Readonly<Record<string, LocalFunction>>;
  private readonly retryIntervalOverrides: Readonly<Record<string, number>> | undefined;
  private readonly waitTimeOverrides: Readonly<Record<string, number>> | undefined;
  private readonly authorizeInvoke: LocalStepFunctionsOptions['authorizeInvoke'];
  private readonly executions = new Map<string, Execution>();
  private readonly waitingTasks = new Map<string, WaitingTask>();
  /** Tokens whose task is over: answered with TaskTimedOut like AWS, not InvalidToken. */
  /** The execution of each token whose task has ended. */
  private readonly closedTokens = new Map<string, string>();

  /** @throws when a definition is invalid ASL or uses a Task resource or function this runtime cannot run */
  constructor(options: LocalStepFunctionsOptions) {
    super();
    this.functions = options.functions;
    this.authorizeInvoke = options.authorizeInvoke;
    this.retryIntervalOverrides = options.retryIntervalOverrides;
    this.waitTimeOverrides = options.waitTimeOverrides;
    for (const [stateMachineArn, definition] of Object.entries(options.definitions)) {
      if (!stateMachineName(stateMachineArn)) throw new Error(`Not a state machine ARN: ${stateMachineArn}`);
      const parsed = (
        typeof definition === 'string' ? JSON.parse(definition) : structuredClone(definition)
      ) as StateMachineDefinition;
      this.stateMachines.set(stateMachineArn, this.prepare(stateMachineArn, parsed));
    }
  }

  /**
   * StartExecution. A name already used answers the same execution when it is still running with the same input
   * (idempotent, like AWS), else `ExecutionAlreadyExists`.
   */
  startExecution(request: { stateMachineArn: string; name?: string; input?: string }): {
    executionArn: string;
    startDate: Date;
  } {
    const stateMachine = this.stateMachines.get(request.stateMachineArn);
    if (!stateMachine)
      throw new StepFunctionsError(
        'StateMachineDoesNotExist',
        `State Machine Does Not Exist: '${request.stateMachineArn}'`,
      );
    const name = request.name ?? randomUUID();
    if (!EXECUTION_NAME.test(name)) throw new StepFunctionsError('InvalidName', `Invalid Name: '${name}'`);
    const inputText = request.input ?? '{}';
    let input: unknown;
    try {
      input = JSON.parse(inputText);
    } catch {
      throw new StepFunctionsError(
        'InvalidExecutionInput',
        'Invalid State Machine Execution Input: the input is not valid JSON',
      );
    }

    const executionArn = `${request.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      const { description } = existing;
      if (description.status === 'RUNNING' && description.input === inputText) {
        return { executionArn, startDate: description.startDate };
      }
      throw new StepFunctionsError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }

    const description: ExecutionDescription = {
      executionArn,
      stateMachineArn: request.stateMachineArn,
      name,
      status: 'RUNNING',
      input: inputText,
      startDate: new Date(),
    };
    const waitingTokens = new Set<string>();
    const overrides = Object.fromEntries(
      [...stateMachine.tasks].map(([stateName, spec]) => [
        stateName,
        (invocation: unknown) =>
          this.runTask(executionArn, request.stateMachineArn, waitingTokens, spec, invocation as TaskInvocation),
      ]),
    ) as TaskHandlers;
    const run = stateMachine.machine.run(input as Parameters<StateMachine['run']>[0], {
      overrides: {
        taskResourceLocalHandlers: overrides,
        ...(this.retryIntervalOverrides ? { retryIntervalOverrides: { ...this.retryIntervalOverrides } } : {}),
        ...(this.waitTimeOverrides ? { waitTimeOverrides: { ...this.waitTimeOverrides } } : {}),
      },
      context: {
        Execution: { Id: executionArn, Name: name, StartTime: description.startDate.toISOString() },
        StateMachine: { Id: request.stateMachineArn, Name: stateMachineName(request.stateMachineArn) },
        Task: { Token: TASK_TOKEN_PLACEHOLDER },
      },
    });
    void this.forwardStateEvents(executionArn, run.eventLogs);

    const execution: Execution = {
      description,
      abort: run.abort,
      waitingTokens,
      settled: run.result.then(
        (output) => this.close(execution, { status: 'SUCCEEDED', output: JSON.stringify(output) }),
        (error: unknown) => this.close(execution, closingOf(error)),
      ),
    };
    this.executions.set(executionArn, execution);
    this.emit('execution', { type: 'started', execution: { ...description } });
    return { executionArn, startDate: description.startDate };
  }

  /** DescribeExecution. */
  describeExecution(executionArn: string): ExecutionDescription {
    return { ...this.execution(executionArn).description };
  }

  /** Resolves with the execution's description once it has ended (tests and tools). */
  async waitForExecution(executionArn: string): Promise<ExecutionDescription> {
    return this.execution(executionArn).settled;
  }

  /** StopExecution: aborts a running execution; its waiting tasks end, their tokens answer TaskTimedOut. */
  stopExecution(request: { executionArn: string; error?: string; cause?: string }): { stopDate: Date } {
    const execution = this.execution(request.executionArn);
    if (execution.description.status === 'RUNNING') {
      execution.abort();
      this.close(execution, {
        status: 'ABORTED',
        ...(request.error === undefined ? {} : { error: request.error }),
        ...(request.cause === undefined ? {} : { cause: request.cause }),
      });
    }
    return { stopDate: execution.description.stopDate ?? new Date() };
  }

  /** SendTaskSuccess: `output` is JSON text, the waiting state's result. */
  sendTaskSuccess(taskToken: string, output: string): void {
    const task = this.waitingTask(taskToken);
    let result: unknown;
    try {
      result = JSON.parse(output);
    } catch {
      throw new StepFunctionsError('InvalidOutput', 'Invalid Output: the output is not valid JSON');
    }
    this.finishTask(task, { ok: true, result });
  }

  /** SendTaskFailure: the waiting state fails with `error` (matched by Retry/Catch) and `cause`. */
  sendTaskFailure(taskToken: string, error = '', cause = ''): void {
    this.finishTask(this.waitingTask(taskToken), { ok: false, error: taskError(error, cause) });
  }

  /** SendTaskHeartbeat: restarts the waiting state's heartbeat clock. */
  sendTaskHeartbeat(taskToken: string): void {
    const task = this.waitingTask(taskToken);
    if (task.heartbeatSeconds !== undefined) this.armHeartbeat(task, task.heartbeatSeconds);
  }

  /** The state machine of the task `taskToken` names, waiting or ended (what IAM authorizes SendTask* on). */
  stateMachineOfTask(taskToken: string): string | undefined {
    const executionArn = this.waitingTasks.get(taskToken)?.executionArn ?? this.closedTokens.get(taskToken);
    return executionArn === undefined ? undefined : this.executions.get(executionArn)?.description.stateMachineArn;
  }

  /** Stops every running execution (its pending timers included), e.g. when the runtime shuts down. */
  stopAll(): void {
    for (const { description } of this.executions.values()) {
      if (description.status === 'RUNNING')
        this.stopExecution({ executionArn: description.executionArn, error: 'Shutdown' });
    }
  }

  private execution(executionArn: string): Execution {
    const execution = this.executions.get(executionArn);
    if (!execution)
      throw new StepFunctionsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return execution;
  }

  private waitingTask(taskToken: string): WaitingTask {
    const task = this.waitingTasks.get(taskToken);
    if (task) return task;
    if (this.closedTokens.has(taskToken))
      throw new StepFunctionsError('TaskTimedOut', 'Task Timed Out: Provided task does not exist anymore');
    throw new StepFunctionsError(
      'InvalidToken',
      'Invalid Token: the token was not issued by this state machine runtime',
    );
  }

  /** Validates the definition and rewrites its Task states so that this class runs them (see `rewriteTaskState`). */
  private prepare(stateMachineArn: string, definition: StateMachineDefinition): PreparedStateMachine {
    const tasks = new Map<string, TaskSpec>();
    const visit = (states: Record<string, unknown>): void => {
      for (const [stateName, state] of Object.entries(states)) {
        if (!isRecord(state)) continue;
        if (state.Type === 'Task') {
          if (tasks.has(stateName))
            throw new Error(`${stateMachineArn}: Task state names must be unique, "${stateName}" is not`);
          tasks.set(stateName, this.rewriteTaskState(stateMachineArn, stateName, state));
        }
        for (const branch of [
          ...(Array.isArray(state.Branches) ? state.Branches : []),
          state.ItemProcessor,
          state.Iterator,
        ]) {
          if (isRecord(branch) && isRecord(branch.States)) visit(branch.States);
        }
      }
    };
    visit(definition.States as Record<string, unknown>);
    // Resources are service integrations, not Lambda ARNs; paths are the library's own check.
    return { machine: new StateMachine(definition, { validationOptions: { checkArn: false } }), tasks };
  }

  /**
   * Takes a Task state's timeouts out of the library's hands: its `Parameters` become
   * `{ Input: <original Parameters>, TimeoutSeconds.$: <TimeoutSecondsPath>, HeartbeatSeconds.$: <HeartbeatSecondsPath> }`,
   * so the library resolves the paths against the state's input and `runTask` gets everything in one object.
   */
  private rewriteTaskState(stateMachineArn: string, stateName: string, state: Record<string, unknown>): TaskSpec {
    const where = `${stateMachineArn}, state ${stateName}`;
    if (state.Resource !== LAMBDA_INVOKE && state.Resource !== LAMBDA_INVOKE_WAIT_FOR_TASK_TOKEN) {
      throw new Error(`${where}: only ${LAMBDA_INVOKE}[.waitForTaskToken] runs locally, not ${String(state.Resource)}`);
    }
    const parameters = state.Parameters;
    const functionName = isRecord(parameters) ? parameters.FunctionName : undefined;
    if (typeof functionName === 'string' && !(functionName in this.functions)) {
      throw new Error(`${where}: no local function for FunctionName ${functionName}`);
    }

    const spec: TaskSpec = {
      waitForTaskToken: state.Resource === LAMBDA_INVOKE_WAIT_FOR_TASK_TOKEN,
      ...(typeof state.TimeoutSeconds === 'number' ? { timeoutSeconds: state.TimeoutSeconds } : {}),
      ...(typeof state.HeartbeatSeconds === 'number' ? { heartbeatSeconds: state.HeartbeatSeconds } : {}),
    };
    state.Parameters = {
      ...(parameters === undefined ? { 'Input.$': '$' } : { Input: parameters }),
      ...(typeof state.TimeoutSecondsPath === 'string' ? { 'TimeoutSeconds.$': state.TimeoutSecondsPath } : {}),
      ...(typeof state.HeartbeatSecondsPath === 'string' ? { 'HeartbeatSeconds.$': state.HeartbeatSecondsPath } : {}),
    };
    delete state.TimeoutSecondsPath;
    delete state.HeartbeatSeconds;
    delete state.HeartbeatSecondsPath;
    state.TimeoutSeconds = LIBRARY_TASK_TIMEOUT_SECONDS;
    return spec;
  }

  /** Runs one Task state: the library calls this with the rewritten Parameters resolved. */
  private async runTask(
    executionArn: string,
    stateMachineArn: string,
    waitingTokens: Set<string>,
    spec: TaskSpec,
    invocation: TaskInvocation,
  ): Promise<unknown> {
    const timeoutSeconds = secondsOf(invocation.TimeoutSeconds, 'TimeoutSecondsPath') ?? spec.timeoutSeconds;
    const heartbeatSeconds = secondsOf(invocation.HeartbeatSeconds, 'HeartbeatSecondsPath') ?? spec.heartbeatSeconds;
    const functionName = invocation.Input.FunctionName;
    const fn = typeof functionName === 'string' ? this.functions[functionName] : undefined;
    if (!fn) throw taskError('Lambda.ResourceNotFoundException', `Function not found: ${String(functionName)}`);
    const denial = await this.authorizeInvoke?.(stateMachineArn, String(functionName));
    if (denial !== undefined) {
      throw taskError(
        'Lambda.AWSLambdaException',
        `${denial} (Service: Lambda, Status Code: 403, Error Code: AccessDeniedException)`,
      );
    }

    if (!spec.waitForTaskToken) {
      const payload = await withTimeout(invoke(fn, invocation.Input.Payload), timeoutSeconds);
      return { ExecutedVersion: '$LATEST', Payload: payload, StatusCode: 200 };
    }

    const task: WaitingTask = {
      token: `${TOKEN_PREFIX}${randomBytes(48).toString('base64url')}`,
      executionArn,
      ...(heartbeatSeconds === undefined ? {} : { heartbeatSeconds }),
      result: Promise.withResolvers<unknown>(),
    };
    this.waitingTasks.set(task.token, task);
    waitingTokens.add(task.token);
    if (timeoutSeconds !== undefined) {
      task.timeoutTimer = setTimeout(
        () =>
          this.finishTask(task, {
            ok: false,
            error: taskError('States.Timeout', `Task timed out after ${timeoutSeconds} s`),
          }),
        timeoutSeconds * 1000,
      );
    }
    if (heartbeatSeconds !== undefined) this.armHeartbeat(task, heartbeatSeconds);

    // A callback may complete the task before the function returns (the token is live from here on), as in AWS.
    invoke(fn, withTaskToken(invocation.Input.Payload, task.token)).catch((error: unknown) =>
      this.finishTask(task, { ok: false, error: error as Error }),
    );
    return task.result.promise;
  }

  private armHeartbeat(task: WaitingTask, heartbeatSeconds: number): void {
    clearTimeout(task.heartbeatTimer);
    task.heartbeatTimer = setTimeout(
      () =>
        this.finishTask(task, {
          ok: false,
          error: taskError('States.HeartbeatTimeout', `No heartbeat for ${heartbeatSeconds} s`),
        }),
      heartbeatSeconds * 1000,
    );
  }

  /** Ends a waiting task once; its token then answers TaskTimedOut. */
  private finishTask(task: WaitingTask, outcome: { ok: true; result: unknown } | { ok: false; error: Error }): void {
    if (!this.waitingTasks.delete(task.token)) return;
    clearTimeout(task.timeoutTimer);
    clearTimeout(task.heartbeatTimer);
    this.closedTokens.set(task.token, task.executionArn);
    this.executions.get(task.executionArn)?.waitingTokens.delete(task.token);
    if (outcome.ok) task.result.resolve(outcome.result);
    else task.result.reject(outcome.error);
  }

  private close(
    execution: Execution,
    closing: Pick<ExecutionDescription, 'status' | 'output' | 'error' | 'cause'>,
  ): ExecutionDescription {
    const { description } = execution;
    if (description.status !== 'RUNNING') return { ...description };
    Object.assign(description, closing, { stopDate: new Date() });
    for (const token of execution.waitingTokens) {
      const task = this.waitingTasks.get(token);
      if (task) this.finishTask(task, { ok: false, error: taskError('States.Runtime', 'The execution ended') });
    }
    const type = closing.status === 'SUCCEEDED' ? 'succeeded' : closing.status === 'ABORTED' ? 'aborted' : 'failed';
    this.emit('execution', { type, execution: { ...description } });
    return { ...description };
  }

  private async forwardStateEvents(executionArn: string, events: AsyncGenerator<LibraryEvent>): Promise<void> {
    for await (const event of events) {
      if (event.type.startsWith('Execution')) continue;
      this.emit('state', { executionArn, event });
    }
  }
}

/** The status, error and cause of an execution the library ended by throwing. */
function closingOf(error: unknown): Pick<ExecutionDescription, 'status' | 'error' | 'cause'> {
  if (error instanceof ExecutionAbortedError) return { status: 'ABORTED' };
  if (error instanceof ExecutionTimeoutError)
    return { status: 'TIMED_OUT', error: 'States.Timeout', cause: error.message };
  if (error instanceof ExecutionError && error.cause instanceof Error) {
    return { status: 'FAILED', error: error.cause.name, cause: error.cause.message };
  }
  return { status: 'FAILED', error: 'States.Runtime', cause: error instanceof Error ? error.message : String(error) };
}

/**
 * Calls a local function the way the Lambda service integration does: the payload and the result cross a JSON
 * boundary, and a thrown error becomes the state's error named by its `errorType` (the error's `name`) with AWS's
 * `{ errorType, errorMessage }` JSON as the cause.
 */
async function invoke(fn: LocalFunction, payload: unknown): Promise<unknown> {
  let result: unknown;
  try {
    result = await fn(jsonRoundTrip(payload ?? null));
  } catch (error) {
    const errorType = error instanceof Error ? error.name : 'Error';
    const errorMessage = error instanceof Error ? error.message : String(error);
    throw taskError(errorType, JSON.stringify({ errorType, errorMessage }));
  }
  return jsonRoundTrip(result ?? null);
}

async function withTimeout<T>(promise: Promise<T>, timeoutSeconds: number | undefined): Promise<T> {
  if (timeoutSeconds === undefined) return promise;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(taskError('States.Timeout', `Task timed out after ${timeoutSeconds} s`)),
      timeoutSeconds * 1000,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An error the library matches against Retry/Catch by `name` and reports with `message` as the cause.
 * `States.Runtime` is neither retried nor caught, as in AWS (the library reads `isRetryable`/`isCatchable`).
 */
function taskError(name: string, cause: string): Error {
  const error = new Error(cause);
  error.name = name;
  if (name === 'States.Runtime') Object.assign(error, { isRetryable: false, isCatchable: false });
  return error;
}

function secondsOf(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw taskError('States.Runtime', `${field} must resolve to a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function withTaskToken(value: unknown, token: string): unknown {
  if (value === TASK_TOKEN_PLACEHOLDER) return token;
  if (Array.isArray(value)) return value.map((item) => withTaskToken(item, token));
  if (isRecord(value))
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, withTaskToken(item, token)]));
  return value;
}

function jsonRoundTrip(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

function stateMachineName(stateMachineArn: string): string | undefined {
  return /^arn:aws[\w-]*:states:[\w-]+:\d{12}:stateMachine:([\w-]{1,80})$/.exec(stateMachineArn)?.[1];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
