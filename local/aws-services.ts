/**
 * The AWS service endpoint of the local runtime: the Step Functions API (AWS JSON 1.0) backed by `LocalStepFunctions`
 * and Secrets Manager's `GetSecretValue` (AWS JSON 1.1) backed by a map of secrets. Handlers reach it through
 * `AWS_ENDPOINT_URL_SFN` / `AWS_ENDPOINT_URL_SECRETS_MANAGER` with the real SDK clients, which turn the `__type` of an
 * error body into the matching exception class (`ExecutionAlreadyExists`, `TaskTimedOut`, ...).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { EndpointAuthorizer, IamRequest } from './iam.ts';
import { StepFunctionsError, type ExecutionDescription, type LocalStepFunctions } from './stepfunctions.ts';

export interface AwsServicesOptions {
  /** @default 0 (a free port) */
  readonly port?: number;
  /** Secret strings by secret id (what handlers pass as `SecretId`). */
  readonly secrets: Readonly<Record<string, string>>;
  readonly stepFunctions: LocalStepFunctions;
  /** Checks each call against its caller's IAM policies (a denial answers `AccessDeniedException`). @default none */
  readonly authorize?: EndpointAuthorizer;
}

/** A running endpoint: `url` is the value of both `AWS_ENDPOINT_URL_SFN` and `AWS_ENDPOINT_URL_SECRETS_MANAGER`. */
export interface AwsServices {
  readonly url: string;
  stop(): Promise<void>;
}

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const MAX_BODY_BYTES = 1024 * 1024;

/** An AWS error answer: `type` becomes `__type`, which the SDK maps to its exception class. */
class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
  }
}

type Operation = (body: unknown) => unknown;

/**
 * The action and resource IAM authorizes for a call: the state machine, the execution, the state machine whose task
 * the token belongs to (AWS names it in a SendTask* denial), or the secret. None when the request names no resource
 * this runtime knows (a malformed request, a token it never issued): the operation's own validation answers it.
 */
function iamRequestsOf(
  prefix: string,
  operation: string,
  body: unknown,
  stepFunctions: LocalStepFunctions,
): IamRequest[] {
  const fields = (body ?? {}) as Record<string, unknown>;
  const text = (name: string) => (typeof fields[name] === 'string' ? fields[name] : undefined);
  let resource: string | undefined;
  if (prefix === 'secretsmanager') {
    const secretId = text('SecretId');
    resource =
      secretId === undefined || secretId.startsWith('arn:')
        ? secretId
        : `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${secretId}`;
  } else if (operation === 'StartExecution') {
    resource = text('stateMachineArn');
  } else if (operation.startsWith('SendTask')) {
    const taskToken = text('taskToken');
    resource = taskToken === undefined ? undefined : stepFunctions.stateMachineOfTask(taskToken);
  } else {
    resource = text('executionArn');
  }
  return resource === undefined
    ? []
    : [{ action: `${prefix === 'secretsmanager' ? 'secretsmanager' : 'states'}:${operation}`, resource }];
}

const token = z.string().min(1).max(2048);
const executionArn = z.string().min(1).max(256);

// Built once: zod compiles an object schema on its first parse, so a schema built per request pays that on every call.
const requests = {
  StartExecution: z.object({
    stateMachineArn: z.string().min(1),
    name: z.string().optional(),
    input: z.string().optional(),
  }),
  DescribeExecution: z.object({ executionArn }),
  StopExecution: z.object({ executionArn, error: z.string().optional(), cause: z.string().optional() }),
  SendTaskSuccess: z.object({ taskToken: token, output: z.string() }),
  SendTaskFailure: z.object({ taskToken: token, error: z.string().optional(), cause: z.string().optional() }),
  SendTaskHeartbeat: z.object({ taskToken: token }),
  GetSecretValue: z.object({ SecretId: z.string().min(1) }),
};

/** Parses a request body like the service's own validation, answering `ValidationException` on a mismatch. */
function parse<Schema extends z.ZodType>(schema: Schema, body: unknown): z.infer<Schema> {
  const result = schema.safeParse(body);
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`)
      .join('; ');
    throw new ServiceError('ValidationException', `1 validation error detected: ${problems}`);
  }
  return result.data;
}

function stepFunctionsOperations(stepFunctions: LocalStepFunctions): Record<string, Operation> {
  const describe = (execution: ExecutionDescription) => ({
    ...execution,
    startDate: epochSeconds(execution.startDate),
    ...(execution.stopDate === undefined ? {} : { stopDate: epochSeconds(execution.stopDate) }),
  });
  return {
    StartExecution: (body) => {
      const request = parse(requests.StartExecution, body);
      const { executionArn: arn, startDate } = stepFunctions.startExecution(request);
      return { executionArn: arn, startDate: epochSeconds(startDate) };
    },
    DescribeExecution: (body) =>
      describe(stepFunctions.describeExecution(parse(requests.DescribeExecution, body).executionArn)),
    StopExecution: (body) => {
      const request = parse(requests.StopExecution, body);
      return { stopDate: epochSeconds(stepFunctions.stopExecution(request).stopDate) };
    },
    SendTaskSuccess: (body) => {
      const request = parse(requests.SendTaskSuccess, body);
      stepFunctions.sendTaskSuccess(request.taskToken, request.output);
      return {};
    },
    SendTaskFailure: (body) => {
      const request = parse(requests.SendTaskFailure, body);
      stepFunctions.sendTaskFailure(request.taskToken, request.error, request.cause);
      return {};
    },
    SendTaskHeartbeat: (body) => {
      stepFunctions.sendTaskHeartbeat(parse(requests.SendTaskHeartbeat, body).taskToken);
      return {};
    },
  };
}

function secretsManagerOperations(secrets: Readonly<Record<string, string>>): Record<string, Operation> {
  const created = epochSeconds(new Date());
  return {
    GetSecretValue: (body) => {
      const { SecretId } = parse(requests.GetSecretValue, body);
      const secretString = Object.hasOwn(secrets, SecretId) ? secrets[SecretId] : undefined;
      if (secretString === undefined) {
        throw new ServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
      }
      return {
        ARN: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${SecretId}`,
        Name: SecretId,
        VersionId: 'local-current',
        SecretString: secretString,
        VersionStages: ['AWSCURRENT'],
        CreatedDate: created,
      };
    },
  };
}

/** Starts the endpoint on 127.0.0.1. */
export async function startAwsServices(options: AwsServicesOptions): Promise<AwsServices> {
  // X-Amz-Target is `<service prefix>.<operation>`; each service speaks its own JSON protocol version.
  const services: Record<string, { contentType: string; operations: Record<string, Operation> }> = {
    AWSStepFunctions: {
      contentType: 'application/x-amz-json-1.0',
      operations: stepFunctionsOperations(options.stepFunctions),
    },
    secretsmanager: {
      contentType: 'application/x-amz-json-1.1',
      operations: secretsManagerOperations(options.secrets),
    },
  };

  const answer = async (
    request: IncomingMessage,
  ): Promise<{ contentType: string; statusCode: number; body: unknown }> => {
    const target = request.headers['x-amz-target'];
    const [prefix = '', operationName = ''] = (typeof target === 'string' ? target : '').split('.');
    const service = services[prefix];
    const contentType = service?.contentType ?? 'application/x-amz-json-1.0';
    try {
      const operation = service?.operations[operationName];
      if (request.method !== 'POST' || !operation) {
        throw new ServiceError('UnknownOperationException', `Unknown operation ${String(target)}`);
      }
      const body = await readJson(request);
      const denial = await options.authorize?.(
        request.headers,
        iamRequestsOf(prefix, operationName, body, options.stepFunctions),
      );
      if (denial !== undefined) throw new ServiceError('AccessDeniedException', denial);
      return { contentType, statusCode: 200, body: operation(body) };
    } catch (error) {
      const serviceError = asServiceError(error);
      return {
        contentType,
        statusCode: serviceError.statusCode,
        body: { __type: serviceError.type, message: serviceError.message },
      };
    }
  };

  const server = createServer((request, response) => {
    answer(request).then(
      (reply) => send(response, reply),
      () =>
        send(response, {
          contentType: 'application/x-amz-json-1.0',
          statusCode: 500,
          body: { __type: 'InternalFailure', message: 'Internal failure' },
        }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function asServiceError(error: unknown): ServiceError {
  if (error instanceof ServiceError) return error;
  if (error instanceof StepFunctionsError) return new ServiceError(error.code, error.message);
  return new ServiceError('InternalFailure', 'Internal failure', 500);
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ServiceError('ValidationException', 'Request body too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text === '' ? {} : (JSON.parse(text) as unknown);
  } catch {
    throw new ServiceError('SerializationException', 'Request body is not valid JSON');
  }
}

function send(response: ServerResponse, reply: { contentType: string; statusCode: number; body: unknown }): void {
  response
    .writeHead(reply.statusCode, { 'Content-Type': reply.contentType, 'x-amzn-RequestId': randomUUID() })
    .end(JSON.stringify(reply.body));
}

/** AWS JSON protocols carry timestamps as epoch seconds. */
function epochSeconds(date: Date): number {
  return date.getTime() / 1000;
}
