/**
 * Per-suite tables on the run's shared DynamoDB Local (see global-setup.ts). Typical use:
 *
 * ```ts
 * let tables: TestTables;
 * beforeAll(async () => {
 *   tables = await createTestTables();
 *   process.env.TABLE_NAME = tables.tableName; // before the handler module is imported
 *   return () => tables.delete();
 * });
 * ```
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { createTables, localDynamoDbClient } from '../../local/dynamodb.ts';

export interface TestTables {
  /** Physical name of the template's one table. */
  readonly tableName: string;
  /** Its stream (the table is created with the template's `NEW_AND_OLD_IMAGES` stream). */
  readonly streamArn: string;
  /** The prefix unique to this call, prepended to every logical id. */
  readonly prefix: string;
  /** Physical name by logical id, for every table of the template. */
  readonly tableNames: Readonly<Record<string, string>>;
  /** Deletes the tables. */
  delete(): Promise<void>;
}

/** Creates the template's tables under a fresh prefix, so suites (and tests) never see each other's items. */
export async function createTestTables(): Promise<TestTables> {
  const endpoint = inject('dynamoEndpoint');
  const prefix = `test-${randomUUID().slice(0, 8)}-`;
  const tableNames = await createTables(endpoint, inject('template'), { prefix });
  const physicalNames = Object.values(tableNames);
  const [tableName] = physicalNames;
  if (tableName === undefined || physicalNames.length !== 1)
    throw new Error(`Expected one table in the template, found ${physicalNames.length}`);

  const client = localDynamoDbClient(endpoint);
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  if (Table?.LatestStreamArn === undefined) throw new Error(`Table ${tableName} has no stream`);
  return {
    tableName,
    streamArn: Table.LatestStreamArn,
    prefix,
    tableNames,
    async delete() {
      try {
        await Promise.all(physicalNames.map((name) => client.send(new DeleteTableCommand({ TableName: name }))));
      } finally {
        client.destroy();
      }
    },
  };
}
