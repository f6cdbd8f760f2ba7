import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { createTables, localDynamoDbClient, startDynamoDbLocal } from '../../../local/dynamodb.ts';
import { functionEntries, streamEventSourceSettings, tableDefinitions } from '../../../local/template.ts';
import { createTestTables, type TestTables } from '../../support/tables.ts';

const template = inject('template');
const fixture = (name: string): string => fileURLToPath(new URL(`../../support/fixtures/${name}`, import.meta.url));

describe('template readers', () => {
  it('reads the one table as documented: PK/SK, GSI1, GSI2, GSI3, JobsByTime, NEW_AND_OLD_IMAGES stream, TTL on expiresAt', () => {
    const [table, ...others] = tableDefinitions(template);
    expect(others).toEqual([]);
    expect(table?.createTableInput.KeySchema).toEqual([
      { AttributeName: 'PK', KeyType: 'HASH' },
      { AttributeName: 'SK', KeyType: 'RANGE' },
    ]);
    expect(
      table?.createTableInput.GlobalSecondaryIndexes?.map((index) => [
        index.IndexName,
        index.KeySchema?.map((key) => key.AttributeName),
      ]),
    ).toEqual([
      ['GSI1', ['GSI1PK', 'GSI1SK']],
      ['GSI2', ['GSI2PK', 'GSI2SK']],
      ['GSI3', ['GSI3PK', 'GSI3SK']],
      ['JobsByTime', ['JobsByTimePK', 'JobsByTimeSK']],
    ]);
    expect(table?.createTableInput.StreamSpecification).toEqual({
      StreamEnabled: true,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    });
    expect(table?.timeToLiveAttribute).toBe('expiresAt');
  });

  it('maps every pipeline function to a handler file that exists, with its environment', async () => {
    const functions = Object.values(functionEntries(template));
    expect(functions.length).toBeGreaterThanOrEqual(5);
    for (const { entry, exportName, environment } of functions) {
      expect(entry).toMatch(/\/lambdas\/[a-z-]+\/handler\.ts$/);
      await expect(access(entry)).resolves.toBeUndefined();
      expect(exportName).toBe('handler');
      expect(environment).toHaveProperty('POWERTOOLS_SERVICE_NAME');
    }
  });

  it('reads the fan-out stream mapping as poller settings, and nothing for a function without one', () => {
    const functions = Object.entries(functionEntries(template));
    const idOf = (name: string): string =>
      functions.find(([, { entry }]) => entry.endsWith(`/lambdas/${name}/handler.ts`))![0];
    const [table] = tableDefinitions(template);

    const fanout = streamEventSourceSettings(template, idOf('fanout'));

    expect(fanout).toMatchObject({
      tableLogicalId: table?.logicalId,
      startingPosition: 'LATEST',
      bisectBatchOnError: true,
    });
    expect(fanout?.maxRetryAttempts).toBeGreaterThanOrEqual(0);
    expect(fanout?.maxRetryAttempts).toBeLessThan(Infinity); // bounded: poison records must not block the stream
    expect(streamEventSourceSettings(template, idOf('stripe-webhook'))).toBeUndefined();
  });
});

describe('createTables', () => {
  let tables: TestTables;
  const client = localDynamoDbClient(inject('dynamoEndpoint'));
  beforeAll(async () => {
    tables = await createTestTables();
    return () => tables.delete();
  });
  afterAll(() => client.destroy());

  it('creates the tables as the template defines them (keys, GSIs, stream view type, TTL)', async () => {
    const [definition] = tableDefinitions(template);
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tables.tableName }));
    expect(tables.tableName).toBe(`${tables.prefix}${definition?.logicalId}`);
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual(definition?.createTableInput.KeySchema);
    expect(new Set(Table?.AttributeDefinitions)).toEqual(new Set(definition?.createTableInput.AttributeDefinitions));
    const indexes = Table?.GlobalSecondaryIndexes?.map(({ IndexName, KeySchema, Projection }) => ({
      IndexName,
      KeySchema,
      Projection,
    }));
    expect(indexes?.toSorted((a, b) => a.IndexName!.localeCompare(b.IndexName!))).toEqual(
      definition?.createTableInput.GlobalSecondaryIndexes,
    );
    expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(Table?.LatestStreamArn).toBe(tables.streamArn);

    const { TimeToLiveDescription } = await client.send(new DescribeTimeToLiveCommand({ TableName: tables.tableName }));
    expect(TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
  });

  it('is idempotent: running it again keeps the existing tables and their items', async () => {
    const item = { PK: { S: 'AGENT#kept' }, SK: { S: 'AGENT' }, entity: { S: 'agent' } };
    await client.send(new PutItemCommand({ TableName: tables.tableName, Item: item }));

    const again = await createTables(inject('dynamoEndpoint'), template, { prefix: tables.prefix });

    expect(again).toEqual(tables.tableNames);
    const { Item } = await client.send(
      new GetItemCommand({ TableName: tables.tableName, Key: { PK: item.PK, SK: item.SK } }),
    );
    expect(Item).toEqual(item);
  });
});

describe('startDynamoDbLocal', () => {
  // Each of these starts its own Java process: seconds on an idle machine, much more on a busy one.
  const ownProcessTimeout = { timeout: 180_000 };

  it('keeps data in a dataDir across a restart', ownProcessTimeout, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'dynamodb-local-'));
    const item = { PK: { S: 'JOB#survivor' }, SK: { S: 'JOB' }, entity: { S: 'job' } };
    try {
      const first = await startDynamoDbLocal({ dataDir });
      try {
        const { DataTable } = await createNamedTables(first.endpoint);
        await withClient(first.endpoint, (client) =>
          client.send(new PutItemCommand({ TableName: DataTable, Item: item })),
        );
      } finally {
        await first.stop();
      }

      const second = await startDynamoDbLocal({ dataDir });
      try {
        const { DataTable } = await createNamedTables(second.endpoint);
        const { Item } = await withClient(second.endpoint, (client) =>
          client.send(new GetItemCommand({ TableName: DataTable, Key: { PK: item.PK, SK: item.SK } })),
        );
        expect(Item).toEqual(item);
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a busy port with a clear error', async () => {
    const blocker = createServer().listen(0);
    await once(blocker, 'listening');
    const { port } = blocker.address() as { port: number };
    try {
      await expect(startDynamoDbLocal({ port })).rejects.toThrow(`Port ${port} is already in use`);
    } finally {
      blocker.close();
    }
  });

  it('says Java is missing when there is no java on PATH', async () => {
    const emptyDir = await mkdtemp(join(tmpdir(), 'no-java-'));
    vi.stubEnv('PATH', emptyDir);
    try {
      await expect(startDynamoDbLocal()).rejects.toThrow(/needs Java 17.*`java` was not found/);
    } finally {
      vi.unstubAllEnvs();
      await rm(emptyDir, { recursive: true, force: true });
    }
  });

  it(
    'stops with its parent process: the Java process dies when the parent gets SIGTERM',
    ownProcessTimeout,
    async () => {
      const parent = spawn(process.execPath, ['--import', 'tsx', fixture('run-dynamodb-local.ts')], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        const [line] = (await once(createInterface({ input: parent.stdout! }), 'line')) as [string];
        const { endpoint } = JSON.parse(line) as { endpoint: string };
        await expect(listTables(endpoint)).resolves.toBe(200);

        parent.kill('SIGTERM');
        const [, signal] = await once(parent, 'exit');

        expect(signal).toBe('SIGTERM'); // the default signal behaviour is kept after the clean-up
        await expect(listTables(endpoint)).rejects.toThrow();
      } finally {
        parent.kill('SIGKILL');
      }
    },
  );
});

/** A table set with a fixed prefix on a private DynamoDB Local, named by a readable alias. */
async function createNamedTables(endpoint: string): Promise<{ DataTable: string }> {
  const names = Object.values(await createTables(endpoint, template, { prefix: 'restart-' }));
  return { DataTable: names[0]! };
}

async function withClient<T>(
  endpoint: string,
  use: (client: ReturnType<typeof localDynamoDbClient>) => Promise<T>,
): Promise<T> {
  const client = localDynamoDbClient(endpoint);
  try {
    return await use(client);
  } finally {
    client.destroy();
  }
}

/** A raw ListTables call (no SDK retries), answering the HTTP status. */
async function listTables(endpoint: string): Promise<number> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'DynamoDB_20120810.ListTables',
      authorization:
        'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: '{}',
  });
  return response.status;
}
