/**
 * IAM in front of DynamoDB Local (a separate Java process that checks no permissions): functions reach DynamoDB
 * through this proxy (`AWS_ENDPOINT_URL_DYNAMODB`), which authorizes each request as DynamoDB does, then forwards it
 * unchanged. A denied request gets DynamoDB's own answer: HTTP 400, `AccessDeniedException`.
 */
import { createServer, request as httpRequest, Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LOCAL_ACCOUNT_ID, LOCAL_IAM_REGION, type EndpointAuthorizer, type IamRequest } from './iam.ts';

const DYNAMODB_ERROR_PREFIX = 'com.amazonaws.dynamodb.v20120810#';

/** Transaction and batch entries, by their key in the request, and the action IAM checks for each. */
const TRANSACT_WRITE_ACTIONS: Record<string, string> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
};

const tableArn = (tableName: string): string =>
  tableName.startsWith('arn:')
    ? tableName
    : `arn:aws:dynamodb:${LOCAL_IAM_REGION}:${LOCAL_ACCOUNT_ID}:table/${tableName}`;

type Body = Record<string, unknown>;
const record = (value: unknown): Body =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Body) : {};

/**
 * The actions and resources IAM authorizes for one DynamoDB API call (JSON protocol, `X-Amz-Target:
 * DynamoDB_20120810.<Operation>`): the table, or `table/<t>/index/<i>` for a query or scan of an index; each entry of
 * a transaction under its own action; a batch under the batch action on each of its tables.
 */
export function dynamoDbIamRequests(operation: string, body: Body): IamRequest[] {
  const action = `dynamodb:${operation}`;
  switch (operation) {
    case 'TransactWriteItems':
      return ((body.TransactItems ?? []) as Body[]).flatMap((item) =>
        Object.entries(item).map(([kind, entry]) => ({
          action: TRANSACT_WRITE_ACTIONS[kind] ?? `dynamodb:${kind}`,
          resource: tableArn(String(record(entry).TableName)),
        })),
      );
    case 'TransactGetItems':
      return ((body.TransactItems ?? []) as Body[]).map((item) => ({
        action: 'dynamodb:GetItem',
        resource: tableArn(String(record(item.Get).TableName)),
      }));
    case 'BatchGetItem':
    case 'BatchWriteItem':
      return Object.keys(record(body.RequestItems)).map((table) => ({ action, resource: tableArn(table) }));
    case 'ListTables':
      return [{ action, resource: '*' }];
    default: {
      if (typeof body.TableName !== 'string') return [{ action, resource: '*' }];
      const table = tableArn(body.TableName);
      return [{ action, resource: typeof body.IndexName === 'string' ? `${table}/index/${body.IndexName}` : table }];
    }
  }
}

export interface DynamoDbIamProxy {
  /** The value of `AWS_ENDPOINT_URL_DYNAMODB` for the functions. */
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts the proxy on 127.0.0.1 in front of `dynamoEndpoint`. */
export async function startDynamoDbIamProxy(options: {
  readonly dynamoEndpoint: string;
  readonly authorize: EndpointAuthorizer;
}): Promise<DynamoDbIamProxy> {
  const target = new URL(options.dynamoEndpoint);
  const agent = new Agent({ keepAlive: true });

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const denial = await denialOf(request, body);
    if (denial !== undefined) {
      const payload = JSON.stringify({ __type: `${DYNAMODB_ERROR_PREFIX}AccessDeniedException`, Message: denial });
      response
        .writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': crypto.randomUUID() })
        .end(payload);
      return;
    }
    const forwarded = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
        agent,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 500, answer.headers);
        answer.pipe(response);
      },
    );
    forwarded.on('error', () => response.destroy());
    forwarded.end(body);
  };

  const denialOf = async (request: IncomingMessage, body: Buffer): Promise<string | undefined> => {
    const target = request.headers['x-amz-target'];
    const operation = (typeof target === 'string' ? target : '').split('.')[1] ?? '';
    let parsed: Body;
    try {
      parsed = record(JSON.parse(body.toString('utf8')));
    } catch {
      return undefined; // DynamoDB answers the malformed request itself
    }
    return options.authorize(request.headers, dynamoDbIamRequests(operation, parsed));
  };

  const server = createServer((request, response) => {
    handle(request, response).catch(() => response.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
