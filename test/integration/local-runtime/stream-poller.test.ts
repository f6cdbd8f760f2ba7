import { BatchWriteItemCommand, DeleteItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { localDynamoDbClient } from '../../../local/dynamodb.ts';
import { StreamPoller, type StreamPollerOptions } from '../../../local/stream-poller.ts';
import { createTestTables, type TestTables } from '../../support/tables.ts';

const client = localDynamoDbClient(inject('dynamoEndpoint'));
const silentLogger = { warn: () => undefined, error: () => undefined };

let tables: TestTables;
let poller: StreamPoller | undefined;

// A fresh table per test: TRIM_HORIZON then sees exactly the records the test wrote, in one batch.
beforeEach(async () => {
  tables = await createTestTables();
});
afterEach(async () => {
  await poller?.stop();
  poller = undefined;
  await tables.delete();
});

/** Starts a poller on the test's table; stopped after the test. */
async function startPoller(options: Omit<StreamPollerOptions, 'tableName'>): Promise<StreamPoller> {
  poller = new StreamPoller({ tableName: tables.tableName, logger: silentLogger, ...options });
  await poller.start();
  return poller;
}

async function putItems(ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    await client.send(
      new PutItemCommand({
        TableName: tables.tableName,
        Item: { PK: { S: id }, SK: { S: 'ITEM' }, entity: { S: 'test' } },
      }),
    );
  }
}

const ids = (count: number, prefix = 'item'): string[] =>
  Array.from({ length: count }, (_, index) => `${prefix}-${String(index).padStart(4, '0')}`);
const keyOf = (record: DynamoDBRecord): string | undefined => record.dynamodb?.Keys?.PK?.S;
const keysOf = (event: DynamoDBStreamEvent): (string | undefined)[] => event.Records.map(keyOf);

/** A handler that records every invocation (the keys it was given) and answers with `respond`. */
function recordingHandler(
  respond: (event: DynamoDBStreamEvent, invocation: number) => DynamoDBBatchResponse | void = () => undefined,
) {
  const invocations: (string | undefined)[][] = [];
  const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse | void> => {
    invocations.push(keysOf(event));
    return respond(event, invocations.length);
  };
  return { invocations, handler };
}

describe('StreamPoller', () => {
  it('delivers INSERT, MODIFY and REMOVE in order, in the Lambda event shape', async () => {
    const events: DynamoDBStreamEvent[] = [];
    const started = await startPoller({
      startingPosition: 'LATEST',
      handler: async (event) => void events.push(event),
    });
    const Key = { PK: { S: 'AGENT#1' }, SK: { S: 'AGENT' } };
    await client.send(
      new PutItemCommand({
        TableName: tables.tableName,
        Item: { ...Key, agentStatus: { S: 'draft' }, seq: { N: '0' } },
      }),
    );
    await client.send(
      new UpdateItemCommand({
        TableName: tables.tableName,
        Key,
        UpdateExpression: 'SET agentStatus = :status, seq = seq + :one',
        ExpressionAttributeValues: { ':status': { S: 'provisioning' }, ':one': { N: '1' } },
      }),
    );
    await client.send(new DeleteItemCommand({ TableName: tables.tableName, Key }));

    await started.drain();

    const records = events.flatMap((event) => event.Records);
    expect(records.map((record) => record.eventName)).toEqual(['INSERT', 'MODIFY', 'REMOVE']);
    const [insert, modify, remove] = records;
    expect(insert).toMatchObject({
      eventSource: 'aws:dynamodb',
      awsRegion: 'us-east-1',
      eventSourceARN: tables.streamArn,
      dynamodb: {
        Keys: Key,
        NewImage: { ...Key, agentStatus: { S: 'draft' }, seq: { N: '0' } },
        StreamViewType: 'NEW_AND_OLD_IMAGES',
      },
    });
    expect(insert?.eventID).toEqual(expect.any(String));
    expect(insert?.dynamodb?.SizeBytes).toBeGreaterThan(0);
    expect(insert?.dynamodb?.ApproximateCreationDateTime).toBeCloseTo(Date.now() / 1000, -3); // epoch seconds, not a Date
    expect(modify?.dynamodb?.OldImage?.agentStatus).toEqual({ S: 'draft' });
    expect(modify?.dynamodb?.NewImage?.agentStatus).toEqual({ S: 'provisioning' });
    expect(remove?.dynamodb?.OldImage?.seq).toEqual({ N: '1' });
    expect(remove?.dynamodb?.NewImage).toBeUndefined();
    const sequenceNumbers = records.map((record) => BigInt(record.dynamodb!.SequenceNumber!));
    expect(sequenceNumbers).toEqual(sequenceNumbers.toSorted((a, b) => (a < b ? -1 : 1)));
  });

  it('starts at LATEST by skipping older records, and at TRIM_HORIZON by reading them', async () => {
    await putItems(['before']);
    const latest = recordingHandler();
    const latestPoller = await startPoller({ startingPosition: 'LATEST', handler: latest.handler });
    await putItems(['after']);
    await latestPoller.drain();
    await latestPoller.stop();

    const horizon = recordingHandler();
    await (await startPoller({ startingPosition: 'TRIM_HORIZON', handler: horizon.handler })).drain();

    expect(latest.invocations.flat()).toEqual(['after']);
    expect(horizon.invocations.flat()).toEqual(['before', 'after']);
  });

  it('retries a batch whose invocation throws until it succeeds', async () => {
    await putItems(ids(3));
    const { invocations, handler } = recordingHandler((_, invocation) => {
      if (invocation <= 2) throw new Error('downstream unavailable');
    });
    const failures: DynamoDBRecord[][] = [];

    await (
      await startPoller({
        startingPosition: 'TRIM_HORIZON',
        bisectBatchOnError: false,
        handler,
        onFailure: (records) => void failures.push(records),
      })
    ).drain();

    expect(invocations).toEqual([ids(3), ids(3), ids(3)]);
    expect(failures).toEqual([]);
  });

  it('honours batchItemFailures: retries from the first reported failure on, never the records before it', async () => {
    const [a, b, c, d, e] = ids(5);
    await putItems([a!, b!, c!, d!, e!]);
    const { invocations, handler } = recordingHandler((event, invocation) => {
      // The first answer names d and b (out of order): the checkpoint is b, the lowest.
      if (invocation === 1)
        return { batchItemFailures: [d, b].map((id) => ({ itemIdentifier: sequenceNumberOf(event, id!) })) };
      if (invocation === 2) return { batchItemFailures: [{ itemIdentifier: sequenceNumberOf(event, c!) }] };
      return { batchItemFailures: [] };
    });

    await (await startPoller({ startingPosition: 'TRIM_HORIZON', handler })).drain();

    expect(invocations).toEqual([
      [a, b, c, d, e],
      [b, c, d, e],
      [c, d, e],
    ]);
  });

  it('bisects a failing batch so a poison record goes to onFailure after bounded retries while its neighbours are delivered', async () => {
    const all = ids(8);
    const poison = all[4]!;
    await putItems(all);
    const delivered: (string | undefined)[] = [];
    const { invocations, handler } = recordingHandler((event) => {
      if (keysOf(event).includes(poison)) throw new Error('poison');
      delivered.push(...keysOf(event));
    });
    const failures: { keys: (string | undefined)[]; error: unknown }[] = [];

    await (
      await startPoller({
        startingPosition: 'TRIM_HORIZON',
        maxRetryAttempts: 2,
        handler,
        onFailure: (records, error) => void failures.push({ keys: records.map(keyOf), error }),
      })
    ).drain();

    expect(delivered).toEqual(all.filter((id) => id !== poison));
    expect(failures).toEqual([{ keys: [poison], error: new Error('poison') }]);
    expect(invocations).toEqual([
      all,
      all.slice(0, 4),
      all.slice(4),
      all.slice(4, 6),
      [poison],
      [poison],
      [poison],
      all.slice(5, 6),
      all.slice(6),
    ]);
  });

  it('without bisecting, gives the whole failing batch to onFailure after maxRetryAttempts retries and moves on', async () => {
    await putItems(ids(3, 'first'));
    const { invocations, handler } = recordingHandler((event) => {
      if (keysOf(event).includes('first-0001')) throw new Error('always fails');
    });
    const failures: (string | undefined)[][] = [];
    const started = await startPoller({
      startingPosition: 'TRIM_HORIZON',
      bisectBatchOnError: false,
      maxRetryAttempts: 1,
      handler,
      onFailure: (records) => void failures.push(records.map(keyOf)),
    });
    await started.drain();
    await putItems(['second']);
    await started.drain();

    expect(failures).toEqual([ids(3, 'first')]);
    expect(invocations).toEqual([ids(3, 'first'), ids(3, 'first'), ['second']]);
  });

  it('applies the filter: filtered-out records are skipped, not delivered', async () => {
    await putItems(['CONN#1', 'AGENT#1', 'CONN#2']);
    const { invocations, handler } = recordingHandler();

    await (
      await startPoller({
        startingPosition: 'TRIM_HORIZON',
        handler,
        filter: (record) => keyOf(record)?.startsWith('AGENT#') === true,
      })
    ).drain();

    expect(invocations).toEqual([['AGENT#1']]);
  });

  it('sends records older than maxRecordAgeSeconds to onFailure without invoking the handler', async () => {
    await putItems(ids(2));
    const { invocations, handler } = recordingHandler();
    const failures: (string | undefined)[][] = [];

    await (
      await startPoller({
        startingPosition: 'TRIM_HORIZON',
        maxRecordAgeSeconds: 0,
        handler,
        onFailure: (records) => void failures.push(records.map(keyOf)),
      })
    ).drain();

    expect(invocations).toEqual([]);
    expect(failures).toEqual([ids(2)]);
  });

  it('reads every record exactly once, in order per shard, across 500 writes in batches of at most batchSize', async () => {
    const written = ids(500);
    const sequenceNumbers: bigint[] = [];
    const { invocations, handler } = recordingHandler((event) => {
      sequenceNumbers.push(...event.Records.map((record) => BigInt(record.dynamodb!.SequenceNumber!)));
    });
    const started = await startPoller({ startingPosition: 'LATEST', batchSize: 40, handler });

    // BatchWriteItem (25 items) in parallel, while the poller reads.
    const chunks = Array.from({ length: written.length / 25 }, (_, index) =>
      written.slice(index * 25, index * 25 + 25),
    );
    await Promise.all(
      chunks.map((chunk) =>
        client.send(
          new BatchWriteItemCommand({
            RequestItems: {
              [tables.tableName]: chunk.map((id) => ({ PutRequest: { Item: { PK: { S: id }, SK: { S: 'ITEM' } } } })),
            },
          }),
        ),
      ),
    );
    await started.drain();

    const delivered = invocations.flat();
    expect(delivered).toHaveLength(written.length);
    expect(new Set(delivered)).toEqual(new Set(written));
    expect(Math.max(...invocations.map((keys) => keys.length))).toBeLessThanOrEqual(40);
    expect(sequenceNumbers).toEqual(sequenceNumbers.toSorted((a, b) => (a < b ? -1 : 1)));
  });

  it('stop() waits for the batch in flight', async () => {
    let release!: () => void;
    const handlerStarted = Promise.withResolvers<void>();
    let handlerFinished = false;
    const started = await startPoller({
      startingPosition: 'LATEST',
      handler: async () => {
        handlerStarted.resolve();
        await new Promise<void>((resolve) => (release = resolve));
        handlerFinished = true;
      },
    });
    await putItems(['in-flight']);
    await handlerStarted.promise;

    const stopped = started.stop();
    release();
    await stopped;

    expect(handlerFinished).toBe(true);
    await expect(started.drain()).rejects.toThrow('not running');
  });
});

function sequenceNumberOf(event: DynamoDBStreamEvent, id: string): string {
  return event.Records.find((record) => keyOf(record) === id)!.dynamodb!.SequenceNumber!;
}
