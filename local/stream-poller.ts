/**
 * The local stand-in for a Lambda event source mapping on a DynamoDB stream. DynamoDB Local has streams but no
 * triggers, so this polls the stream with the real DynamoDB Streams API and invokes the handler with the event shape
 * and the error handling of AWS (ordered per shard, ReportBatchItemFailures checkpoints, bisect on error, bounded
 * retries, on-failure destination, maximum record age, event filter).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type AttributeValue as StreamAttributeValue,
  type _Record as StreamRecord,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import type { AttributeValue, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';

export type StartingPosition = 'LATEST' | 'TRIM_HORIZON';

/** A stream-triggered Lambda handler, as the poller invokes it. */
export type StreamBatchHandler = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | void>;

export interface StreamPollerOptions {
  /** The table whose stream is read (its latest stream, unless `streamArn` is given). */
  readonly tableName: string;
  readonly streamArn?: string;
  /** The function the records are delivered to, as Lambda would invoke it. */
  readonly handler: StreamBatchHandler;
  /** Where reading starts in the shards open at `start()`; shards created later are always read from their start. */
  readonly startingPosition: StartingPosition;
  /** @default 100 */
  readonly batchSize?: number;
  /** Pause between polls of a caught-up stream. @default 50 */
  readonly pollIntervalMs?: number;
  /** Retries of a failing batch before its records go to `onFailure`; `Infinity` retries forever. @default 3 */
  readonly maxRetryAttempts?: number;
  /** Split a batch whose invocation throws in two and retry the halves (splits do not count as retries). @default true */
  readonly bisectBatchOnError?: boolean;
  /**
   * Records older than this are not delivered but sent to `onFailure`. DynamoDB Local rounds the creation time down
   * to the minute, so locally a record can look up to 60 s older than it is. @default undefined (no limit)
   */
  readonly maxRecordAgeSeconds?: number;
  /** The event source filter: records for which it returns false are skipped (and count as processed). */
  readonly filter?: (record: DynamoDBRecord) => boolean;
  /** The on-failure destination: records given up on, in order, with the last error. @default a warning on `logger` */
  readonly onFailure?: (records: DynamoDBRecord[], error: unknown) => void | Promise<void>;
  /** DynamoDB (Streams) endpoint. @default the SDK's own resolution (`AWS_ENDPOINT_URL_DYNAMODB[_STREAMS]`) */
  readonly endpoint?: string;
  /** @default console */
  readonly logger?: Pick<Console, 'warn' | 'error'>;
}

interface ShardState {
  readonly parentShardId: string | undefined;
  /** The next position to read; undefined once the shard is finished: closed and read to its end, or skipped. */
  iterator: string | undefined;
}

interface DrainWaiter {
  /** Resolve after an idle pass that started after this pass number, i.e. after `drain()` was called. */
  readonly afterPass: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

type InvocationFailure =
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'partial'; readonly failedFrom: number; readonly error: Error };

/** How often shards are listed again when none has ended (new shards appear when a shard closes). */
const SHARD_REFRESH_MS = 1_000;
/** Pause after a failed poll (e.g. DynamoDB Local restarting) before trying again. */
const ERROR_BACKOFF_MS = 500;

/**
 * Reads a DynamoDB stream and invokes a handler like a Lambda event source mapping. Single use: a stopped poller
 * cannot be started again.
 */
export class StreamPoller {
  private readonly handler: StreamBatchHandler;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly maxRetryAttempts: number;
  private readonly bisectBatchOnError: boolean;
  private readonly maxRecordAgeSeconds: number | undefined;
  private readonly filter: ((record: DynamoDBRecord) => boolean) | undefined;
  private readonly onFailure: (records: DynamoDBRecord[], error: unknown) => void | Promise<void>;
  private readonly logger: Pick<Console, 'warn' | 'error'>;
  private readonly dynamodb: DynamoDBClient;
  private readonly streams: DynamoDBStreamsClient;

  private readonly shards = new Map<string, ShardState>();
  private streamArn: string | undefined;
  private awsRegion = '';
  private shardsRefreshedAt = 0;
  private shardEnded = false;
  private passesStarted = 0;
  private drainWaiters: DrainWaiter[] = [];
  private loop: Promise<void> | undefined;
  private readonly stopSignal = new AbortController();

  constructor(private readonly options: StreamPollerOptions) {
    this.handler = options.handler;
    this.batchSize = options.batchSize ?? 100;
    this.pollIntervalMs = options.pollIntervalMs ?? 50;
    this.maxRetryAttempts = options.maxRetryAttempts ?? 3;
    this.bisectBatchOnError = options.bisectBatchOnError ?? true;
    this.maxRecordAgeSeconds = options.maxRecordAgeSeconds;
    this.filter = options.filter;
    this.logger = options.logger ?? console;
    this.onFailure =
      options.onFailure ??
      ((records, error) => this.logger.warn(`${describeFailure(records, error)}: records discarded`));
    this.dynamodb = new DynamoDBClient({ endpoint: options.endpoint });
    this.streams = new DynamoDBStreamsClient({ endpoint: options.endpoint });
  }

  /** Finds the stream and positions every open shard; records written after this resolves will be delivered. */
  async start(): Promise<void> {
    if (this.loop !== undefined || this.stopSignal.signal.aborted)
      throw new Error('A StreamPoller can be started only once');
    this.streamArn = this.options.streamArn ?? (await this.latestStreamArn());
    // DynamoDB Local reports region `ddblocal` in records; Lambda events carry the real region.
    this.awsRegion = await this.streams.config.region();
    await this.refreshShards(this.options.startingPosition);
    this.loop = this.run();
  }

  /** Stops polling after the batch in flight (with its retries) is done. Pending `drain()` calls reject. */
  async stop(): Promise<void> {
    if (this.stopSignal.signal.aborted) return;
    this.stopSignal.abort();
    await this.loop;
    for (const waiter of this.drainWaiters.splice(0))
      waiter.reject(new Error('StreamPoller stopped before it was drained'));
    this.dynamodb.destroy();
    this.streams.destroy();
  }

  /**
   * Resolves once every record written to the table before this call has been handed to the handler (or to
   * `onFailure`): after a full pass over all shards, started after the call, that found nothing new.
   */
  drain(): Promise<void> {
    if (this.loop === undefined || this.stopSignal.signal.aborted)
      return Promise.reject(new Error('StreamPoller is not running'));
    return new Promise((resolve, reject) => this.drainWaiters.push({ afterPass: this.passesStarted, resolve, reject }));
  }

  private async latestStreamArn(): Promise<string> {
    const { Table } = await this.dynamodb.send(new DescribeTableCommand({ TableName: this.options.tableName }));
    if (Table?.LatestStreamArn === undefined) throw new Error(`Table ${this.options.tableName} has no stream`);
    return Table.LatestStreamArn;
  }

  private async run(): Promise<void> {
    while (!this.stopSignal.signal.aborted) {
      const pass = ++this.passesStarted;
      let pause = this.pollIntervalMs;
      try {
        const madeProgress = await this.pollShards();
        if (madeProgress) pause = 0;
        else this.resolveDrainWaiters(pass);
      } catch (error) {
        this.logger.error(`StreamPoller(${this.options.tableName}): polling failed, retrying:`, error);
        pause = ERROR_BACKOFF_MS;
      }
      if (pause > 0) await sleep(pause, undefined, { signal: this.stopSignal.signal }).catch(() => undefined);
    }
  }

  private resolveDrainWaiters(idlePass: number): void {
    const [done, waiting] = partition(this.drainWaiters, (waiter) => waiter.afterPass < idlePass);
    this.drainWaiters = waiting;
    for (const waiter of done) waiter.resolve();
  }

  /** One GetRecords (and delivery) on every readable shard, shards in parallel. True when anything was read or ended. */
  private async pollShards(): Promise<boolean> {
    if (this.shardEnded || Date.now() - this.shardsRefreshedAt >= SHARD_REFRESH_MS) {
      this.shardEnded = false;
      await this.refreshShards('TRIM_HORIZON');
    }
    const readable = [...this.shards.values()].filter(
      (shard) => shard.iterator !== undefined && this.parentFinished(shard),
    );
    // allSettled, not all: a failed shard must not start the next pass while another shard's batch is in flight.
    const results = await Promise.allSettled(readable.map((shard) => this.pollShard(shard)));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return results.some((result) => result.status === 'fulfilled' && result.value);
  }

  /** A child shard is read only after its parent has been read to its end, so per-key order holds across splits. */
  private parentFinished(shard: ShardState): boolean {
    // A parent no longer listed has expired from the stream: nothing left to wait for.
    return shard.parentShardId === undefined || this.shards.get(shard.parentShardId)?.iterator === undefined;
  }

  private async pollShard(shard: ShardState): Promise<boolean> {
    const { Records = [], NextShardIterator } = await this.streams.send(
      new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: this.batchSize }),
    );
    if (Records.length > 0) await this.deliver(Records.map((record) => this.toLambdaRecord(record)));
    // Advance only after delivery: a failed poll or a crash mid-batch leaves the iterator on the same records.
    shard.iterator = NextShardIterator;
    if (NextShardIterator === undefined) {
      this.shardEnded = true;
      return true;
    }
    return Records.length > 0;
  }

  /**
   * Lists the stream's shards and positions the new ones: at `start()` with the configured starting position (shards
   * already closed then are history and skipped when starting at LATEST), later always from the shard's start.
   */
  private async refreshShards(newShardPosition: StartingPosition): Promise<void> {
    const listed = await this.describeShards();
    const listedIds = new Set(listed.map((shard) => shard.ShardId));
    // Forget finished shards that expired from the stream, so the map does not grow forever.
    for (const [shardId, state] of this.shards)
      if (state.iterator === undefined && !listedIds.has(shardId)) this.shards.delete(shardId);

    const added = listed.filter((shard) => shard.ShardId !== undefined && !this.shards.has(shard.ShardId));
    await Promise.all(
      added.map(async ({ ShardId: shardId, ParentShardId: parentShardId, SequenceNumberRange }) => {
        const closed = SequenceNumberRange?.EndingSequenceNumber !== undefined;
        const skip = newShardPosition === 'LATEST' && closed;
        const iterator = skip ? undefined : await this.shardIterator(shardId!, newShardPosition);
        this.shards.set(shardId!, { parentShardId, iterator });
      }),
    );
    this.shardsRefreshedAt = Date.now();
  }

  private async describeShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let exclusiveStartShardId: string | undefined;
    do {
      const { StreamDescription } = await this.streams.send(
        new DescribeStreamCommand({ StreamArn: this.streamArn, ExclusiveStartShardId: exclusiveStartShardId }),
      );
      shards.push(...(StreamDescription?.Shards ?? []));
      exclusiveStartShardId = StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStartShardId !== undefined);
    return shards;
  }

  private async shardIterator(shardId: string, position: StartingPosition): Promise<string | undefined> {
    const { ShardIterator } = await this.streams.send(
      new GetShardIteratorCommand({ StreamArn: this.streamArn, ShardId: shardId, ShardIteratorType: position }),
    );
    return ShardIterator;
  }

  /**
   * Delivers one batch read from a shard, in order, with the retry semantics of an event source mapping. Never
   * throws: records are either handled or given to `onFailure`, and the shard moves on.
   */
  private async deliver(records: DynamoDBRecord[]): Promise<void> {
    const accepted = this.filter === undefined ? records : records.filter(this.filter);
    // Depth-first work list: the front is always the oldest undelivered records, so order is kept.
    const pending: { records: DynamoDBRecord[]; retries: number }[] = [{ records: accepted, retries: 0 }];
    for (let batch = pending.shift(); batch !== undefined; batch = pending.shift()) {
      const [expired, fresh] = partition(batch.records, (record) => this.isExpired(record));
      if (expired.length > 0)
        await this.giveUp(expired, new Error(`Record older than maxRecordAgeSeconds (${this.maxRecordAgeSeconds} s)`));
      if (fresh.length === 0) continue;

      const failure = await this.invoke(fresh);
      if (failure === undefined) continue;
      if (failure.kind === 'error' && this.bisectBatchOnError && fresh.length > 1) {
        const middle = Math.ceil(fresh.length / 2);
        pending.unshift(
          { records: fresh.slice(0, middle), retries: batch.retries },
          { records: fresh.slice(middle), retries: batch.retries },
        );
        continue;
      }
      // Checkpoint semantics: records before the first reported failure are done; the rest is retried together.
      const remaining = failure.kind === 'partial' ? fresh.slice(failure.failedFrom) : fresh;
      if (batch.retries >= this.maxRetryAttempts) await this.giveUp(remaining, failure.error);
      else pending.unshift({ records: remaining, retries: batch.retries + 1 });
    }
  }

  /** Invokes the handler once; undefined when every record was processed. */
  private async invoke(records: DynamoDBRecord[]): Promise<InvocationFailure | undefined> {
    let response: DynamoDBBatchResponse | void;
    try {
      response = await this.handler({ Records: records });
    } catch (error) {
      return { kind: 'error', error };
    }
    const failures = response?.batchItemFailures ?? [];
    if (failures.length === 0) return undefined;
    const indexes = failures.map(({ itemIdentifier }) =>
      records.findIndex((record) => record.dynamodb?.SequenceNumber === itemIdentifier),
    );
    // Like Lambda: a failure that names no record of the batch fails the whole batch.
    if (indexes.includes(-1))
      return { kind: 'error', error: new Error('batchItemFailures named an itemIdentifier that is not in the batch') };
    return {
      kind: 'partial',
      failedFrom: Math.min(...indexes),
      error: new Error(`The handler reported ${failures.length} failed record(s)`),
    };
  }

  private async giveUp(records: DynamoDBRecord[], error: unknown): Promise<void> {
    try {
      await this.onFailure(records, error);
    } catch (destinationError) {
      this.logger.error(`${describeFailure(records, error)}; onFailure threw:`, destinationError);
    }
  }

  private isExpired(record: DynamoDBRecord): boolean {
    const createdAt = record.dynamodb?.ApproximateCreationDateTime;
    if (this.maxRecordAgeSeconds === undefined || createdAt === undefined) return false;
    return Date.now() / 1000 - createdAt > this.maxRecordAgeSeconds;
  }

  /** The Lambda event record for a DynamoDB Streams API record (epoch-second times, base64 binaries, real region). */
  private toLambdaRecord(record: StreamRecord): DynamoDBRecord {
    const { dynamodb, userIdentity } = record;
    return {
      eventID: record.eventID,
      eventName: record.eventName,
      eventVersion: record.eventVersion,
      eventSource: 'aws:dynamodb',
      awsRegion: this.awsRegion,
      eventSourceARN: this.streamArn,
      dynamodb: dynamodb && {
        ApproximateCreationDateTime:
          dynamodb.ApproximateCreationDateTime && dynamodb.ApproximateCreationDateTime.getTime() / 1000,
        Keys: toLambdaImage(dynamodb.Keys),
        NewImage: toLambdaImage(dynamodb.NewImage),
        OldImage: toLambdaImage(dynamodb.OldImage),
        SequenceNumber: dynamodb.SequenceNumber,
        SizeBytes: dynamodb.SizeBytes,
        StreamViewType: dynamodb.StreamViewType,
      },
      ...(userIdentity && { userIdentity: { type: userIdentity.Type, principalId: userIdentity.PrincipalId } }),
    };
  }
}

function toLambdaImage(
  image: Record<string, StreamAttributeValue> | undefined,
): Record<string, AttributeValue> | undefined {
  return (
    image && Object.fromEntries(Object.entries(image).map(([name, value]) => [name, toLambdaAttributeValue(value)]))
  );
}

/** The SDK decodes binaries to bytes; Lambda events carry them base64-encoded, like the wire format. */
function toLambdaAttributeValue(value: StreamAttributeValue): AttributeValue {
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BS !== undefined) return { BS: value.BS.map((bytes) => Buffer.from(bytes).toString('base64')) };
  if (value.L !== undefined) return { L: value.L.map(toLambdaAttributeValue) };
  if (value.M !== undefined) return { M: toLambdaImage(value.M)! };
  return value as AttributeValue; // S, N, SS, NS, BOOL, NULL: same shape in both
}

/** Names records by sequence number only: images may hold secrets (task tokens) and never go to logs. */
function describeFailure(records: DynamoDBRecord[], error: unknown): string {
  const sequenceNumbers = records.map((record) => record.dynamodb?.SequenceNumber).join(', ');
  return `StreamPoller gave up on ${records.length} record(s) [${sequenceNumbers}] (${error instanceof Error ? error.message : String(error)})`;
}

function partition<T>(items: T[], predicate: (item: T) => boolean): [T[], T[]] {
  const matching: T[] = [];
  const rest: T[] = [];
  for (const item of items) (predicate(item) ? matching : rest).push(item);
  return [matching, rest];
}
