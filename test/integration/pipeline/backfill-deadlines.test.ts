/**
 * scripts/backfill-deadlines.ts on DynamoDB Local: agents written before deadlines existed get the deadline (and the
 * execution request of a driven status) the job writer would have given them, so the sweeper's own query of GSI3 finds
 * them; a second run changes nothing; an agent changed between the read and the write keeps the change.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { deadlineOf, PROVISION_TIMEOUT_DEFAULTS, STATUS_BOUNDS_SECONDS } from '../../../lambdas/domain/deadlines.ts';
import type { AgentStatus } from '../../../lambdas/domain/statuses.ts';
import { localDynamoDbClient } from '../../../local/dynamodb.ts';
import { backfillDeadlines } from '../../../scripts/backfill-deadlines.ts';
import { createTestTables, type TestTables } from '../../support/tables.ts';

let tables: TestTables;
let documents: DynamoDBDocumentClient;
let agentIdsWithDeadlineBefore: typeof import('../../../lambdas/shared/repository.ts').agentIdsWithDeadlineBefore;

beforeAll(async () => {
  tables = await createTestTables();
  documents = DynamoDBDocumentClient.from(localDynamoDbClient(inject('dynamoEndpoint')), {
    marshallOptions: { removeUndefinedValues: true },
  });
  process.env.TABLE_NAME = tables.tableName;
  // The sweeper's own query of GSI3 (lambdas/sweeper/sweep.ts): what it sees is what the backfill is for.
  ({ agentIdsWithDeadlineBefore } = await import('../../../lambdas/shared/repository.ts'));
});

afterAll(async () => {
  documents?.destroy();
  await tables?.delete();
});

const ENTERED = '2026-01-10T08:00:00.000Z';
const BEFORE = '2026-01-10T07:00:00.000Z';
const LATER = '2026-01-10T09:30:00.000Z';

/** An agent item as the code before deadlines wrote it, with its history (oldest first): no deadline, no execution. */
async function oldAgent(
  agentId: string,
  agentStatus: AgentStatus,
  history: { agentStatus: AgentStatus; updatedAt: string; actor?: string }[],
  fields: Record<string, unknown> = {},
): Promise<void> {
  const seq = history.length;
  await documents.send(
    new PutCommand({
      TableName: tables.tableName,
      Item: {
        PK: `AGENT#${agentId}`,
        SK: 'AGENT',
        entity: 'agent',
        agentId,
        userId: 'user-old',
        name: agentId,
        region: 'fsn1',
        agentStatus,
        seq,
        createdAt: BEFORE,
        updatedAt: history.at(-1)?.updatedAt ?? LATER,
        ...fields,
      },
    }),
  );
  for (const [index, item] of history.entries()) {
    await documents.send(
      new PutCommand({
        TableName: tables.tableName,
        Item: {
          PK: `AGENT#${agentId}`,
          SK: `SEQ#${String(index + 1).padStart(12, '0')}`,
          entity: 'history',
          agentId,
          seq: index + 1,
          event: 'old',
          ...item,
        },
      }),
    );
  }
}

const agentItem = async (agentId: string) =>
  (
    await documents.send(
      new GetCommand({
        TableName: tables.tableName,
        Key: { PK: `AGENT#${agentId}`, SK: 'AGENT' },
        ConsistentRead: true,
      }),
    )
  ).Item ?? {};

/** What the sweeper finds once every bound has passed. */
const sweepable = async (status: AgentStatus) => agentIdsWithDeadlineBefore(status, '2100-01-01T00:00:00.000Z');

describe('scripts/backfill-deadlines.ts', () => {
  it('gives each old agent in a bounded status the deadline of the job writer, with the execution of a driven one, paginated; the sweeper then sees them; a second run writes nothing', async () => {
    await oldAgent(
      'old-provisioning',
      'provisioning',
      [
        { agentStatus: 'draft', updatedAt: BEFORE },
        { agentStatus: 'provisioning', updatedAt: ENTERED, actor: 'stripe' },
      ],
      { currentJobId: 'job-old-1' },
    );
    // A stop entered at seq 3; a payment flag written later in the same status does not move the deadline.
    await oldAgent('old-stopping', 'stopping', [
      { agentStatus: 'provisioning', updatedAt: BEFORE },
      { agentStatus: 'active', updatedAt: BEFORE },
      { agentStatus: 'stopping', updatedAt: ENTERED, actor: 'user:user-old' },
      { agentStatus: 'stopping', updatedAt: LATER, actor: 'stripe' },
    ]);
    await oldAgent('old-failed', 'failed', [
      { agentStatus: 'provisioning', updatedAt: BEFORE },
      { agentStatus: 'failed', updatedAt: ENTERED },
    ]);
    // No history at all: the agent's own updatedAt is when it entered.
    await oldAgent('old-destroying', 'destroying', [], { updatedAt: ENTERED });
    await oldAgent('old-active', 'active', [{ agentStatus: 'active', updatedAt: ENTERED }]);
    await oldAgent('old-no-job', 'provisioning', [{ agentStatus: 'provisioning', updatedAt: ENTERED }]);
    const untouched = await agentItem('old-active');
    const lines: Record<string, unknown>[] = [];

    const summary = await backfillDeadlines({
      tableName: tables.tableName,
      documents,
      pageSize: 2,
      report: (line) => lines.push(line),
    });

    expect(summary).toEqual({ scanned: 5, written: 4, changedMeanwhile: 0, skipped: 1 });
    expect(lines).toContainEqual({
      agentId: 'old-no-job',
      agentStatus: 'provisioning',
      outcome: 'skipped',
      reason: 'no-job-to-drive',
    });
    expect(await agentItem('old-provisioning')).toMatchObject({
      deadlineAt: deadlineOf('provisioning', ENTERED),
      GSI3PK: 'DEADLINE#provisioning',
      GSI3SK: deadlineOf('provisioning', ENTERED),
      execution: {
        stateMachine: 'provision',
        name: 'job-old-1',
        input: JSON.stringify({
          jobId: 'job-old-1',
          agentId: 'old-provisioning',
          userId: 'user-old',
          region: 'fsn1',
          timeouts: PROVISION_TIMEOUT_DEFAULTS,
        }),
      },
    });
    expect(await agentItem('old-stopping')).toMatchObject({
      deadlineAt: deadlineOf('stopping', ENTERED),
      GSI3PK: 'DEADLINE#stopping',
      execution: {
        stateMachine: 'lifecycle',
        name: 'old-stopping-stop-3',
        input: JSON.stringify({ action: 'stop', agentId: 'old-stopping', actor: 'user:user-old' }),
      },
    });
    const failed = await agentItem('old-failed');
    expect(failed).toMatchObject({ deadlineAt: deadlineOf('failed', ENTERED), GSI3PK: 'DEADLINE#failed' });
    expect(failed.execution).toBeUndefined();
    expect(Date.parse(failed.deadlineAt) - Date.parse(ENTERED)).toBe(STATUS_BOUNDS_SECONDS.failed! * 1000);
    expect(await agentItem('old-destroying')).toMatchObject({
      deadlineAt: deadlineOf('destroying', ENTERED),
      execution: { name: 'old-destroying-destroy-0' },
    });
    expect(await agentItem('old-active')).toEqual(untouched);

    expect(await sweepable('provisioning')).toEqual(['old-provisioning']);
    expect(await sweepable('stopping')).toEqual(['old-stopping']);
    expect(await sweepable('failed')).toEqual(['old-failed']);
    expect(await sweepable('destroying')).toEqual(['old-destroying']);

    const before = await Promise.all(['old-provisioning', 'old-stopping', 'old-failed'].map(agentItem));
    expect(await backfillDeadlines({ tableName: tables.tableName, documents })).toEqual({
      scanned: 1,
      written: 0,
      changedMeanwhile: 0,
      skipped: 1,
    });
    expect(await Promise.all(['old-provisioning', 'old-stopping', 'old-failed'].map(agentItem))).toEqual(before);
  });

  it('never overwrites an agent that changed between its read and its write', async () => {
    await oldAgent('old-racing', 'stopping', [
      { agentStatus: 'active', updatedAt: BEFORE },
      { agentStatus: 'stopping', updatedAt: ENTERED },
    ]);
    // The stop completes (a write of the running system) just before the backfill's write reaches the table.
    const racing: DynamoDBDocumentClient = Object.create(documents);
    racing.send = (async (command: { input: { Key?: { PK?: string } } }) => {
      if (command instanceof UpdateCommand && command.input.Key?.PK === 'AGENT#old-racing') {
        await documents.send(
          new UpdateCommand({
            TableName: tables.tableName,
            Key: { PK: 'AGENT#old-racing', SK: 'AGENT' },
            UpdateExpression: 'SET agentStatus = :stopped, seq = :seq',
            ExpressionAttributeValues: { ':stopped': 'stopped', ':seq': 3 },
          }),
        );
      }
      return documents.send(command as never);
    }) as DynamoDBDocumentClient['send'];

    const summary = await backfillDeadlines({ tableName: tables.tableName, documents: racing });

    expect(summary).toMatchObject({ written: 0, changedMeanwhile: 1 });
    const agent = await agentItem('old-racing');
    expect(agent).toMatchObject({ agentStatus: 'stopped', seq: 3 });
    expect(agent.deadlineAt).toBeUndefined();
    expect(agent.GSI3PK).toBeUndefined();
    expect(agent.execution).toBeUndefined();
  });

  it('runs as documented with npx tsx; --dry-run reports and writes nothing', async () => {
    await oldAgent('old-dry-run', 'failed', [{ agentStatus: 'failed', updatedAt: ENTERED }]);
    const { stdout } = await promisify(execFile)(
      'npx',
      ['tsx', 'scripts/backfill-deadlines.ts', '--table', tables.tableName, '--dry-run'],
      {
        env: {
          ...process.env,
          AWS_ENDPOINT_URL_DYNAMODB: inject('dynamoEndpoint'),
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'local',
          AWS_SECRET_ACCESS_KEY: 'local',
        },
      },
    );
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({
        agentId: 'old-dry-run',
        outcome: 'would-write',
        deadlineAt: deadlineOf('failed', ENTERED),
      }),
    );
    expect(lines.at(-1)).toMatchObject({ dryRun: true, summary: { written: 0 } });
    expect((await agentItem('old-dry-run')).deadlineAt).toBeUndefined();
  });
});
