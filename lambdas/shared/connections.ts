/**
 * WebSocket connections and agent subscriptions in the table, and delivery to a connection.
 * See docs/ARCHITECTURE.md, "The table".
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  GoneException,
  PostToConnectionCommand,
  type ApiGatewayManagementApiClient,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
  paginateQuery,
} from '@aws-sdk/lib-dynamodb';
import { ROLES, type Role } from '../domain/access.ts';
import type { ServerMessage } from '../domain/schemas.ts';
import * as z from '../domain/zod-mini.ts';
import { dynamo } from './clients/dynamodb.ts';
import { loadConfig, tableConfig } from './config.ts';
import { FLEET_SUBSCRIPTIONS_PARTITION, keys, SUBSCRIPTION_PREFIX } from './keys.ts';

const { TABLE_NAME } = loadConfig(tableConfig);

/** API Gateway closes every WebSocket after two hours; nothing about a connection needs to outlive that. */
export const MAX_CONNECTION_SECONDS = 2 * 60 * 60;
/** API Gateway refuses WebSocket frames above 128 KB. */
export const MAX_MESSAGE_BYTES = 128 * 1024;
/** DynamoDB's BatchWriteItem limit. */
const BATCH_WRITE_LIMIT = 25;
const BATCH_WRITE_ATTEMPTS = 5;
const BATCH_WRITE_BACKOFF_MS = 25;

/** A connection as stored at `$connect`. */
export interface Connection {
  readonly connectionId: string;
  readonly userId: string;
  /** From the token's groups at `$connect` (ws-authorizer). */
  readonly role: Role;
  /** The agents this connection is subscribed to. */
  readonly agentIds: ReadonlySet<string>;
  readonly connectedAt: string;
  /** Epoch seconds; the TTL of the connection and of its subscriptions. */
  readonly expiresAt: number;
}

/** One follower of an agent, as found by the fan-out. */
export interface Subscriber {
  readonly connectionId: string;
  readonly userId: string;
  readonly role: Role;
  /** Epoch seconds. */
  readonly expiresAt: number;
}

/**
 * When a connection stops being useful: when its token expires or when API Gateway closes it, whichever comes first.
 * @param connectedAtMs when the connection was opened, epoch milliseconds
 * @param tokenExpiresAt the access token's `exp`, epoch seconds
 */
export function connectionExpiry(connectedAtMs: number, tokenExpiresAt: number): number {
  return Math.min(tokenExpiresAt, Math.floor(connectedAtMs / 1000) + MAX_CONNECTION_SECONDS);
}

/** Stores a new connection (no subscriptions yet). */
export async function putConnection(connection: Omit<Connection, 'agentIds'>): Promise<void> {
  await dynamo.send(
    new PutCommand({
      TableName: TABLE_NAME,
      Item: { ...keys.connection(connection.connectionId), entity: 'connection', ...connection },
    }),
  );
}

/** Items written before roles existed hold none: their connections are customers'. */
const storedRole = z._default(z.enum(ROLES), 'customer');

const storedConnection = z.object({
  connectionId: z.string(),
  userId: z.string(),
  role: storedRole,
  agentIds: z.optional(z.set(z.string())),
  connectedAt: z.string(),
  expiresAt: z.number(),
});

/** The connection, or undefined when it is unknown or has expired (TTL deletion lags by up to days). */
export async function getConnection(connectionId: string, now: Date = new Date()): Promise<Connection | undefined> {
  const { Item } = await dynamo.send(
    new GetCommand({ TableName: TABLE_NAME, Key: keys.connection(connectionId), ConsistentRead: true }),
  );
  if (Item === undefined) return undefined;
  const connection = storedConnection.parse(Item);
  if (isExpired(connection.expiresAt, now)) return undefined;
  return { ...connection, agentIds: connection.agentIds ?? new Set() };
}

/**
 * Subscribes a connection to an agent: the subscription item and the agent in the connection's `agentIds`, in one
 * transaction, so `$disconnect` always finds every subscription it has to remove.
 * @returns false when the connection no longer exists (nothing is written)
 */
export async function subscribe(connection: Connection, agentId: string): Promise<boolean> {
  return transactWhileConnected([
    {
      Put: {
        TableName: TABLE_NAME,
        Item: { ...keys.subscription(agentId, connection.connectionId), ...subscriberOf(connection) },
      },
    },
    {
      Update: {
        TableName: TABLE_NAME,
        Key: keys.connection(connection.connectionId),
        UpdateExpression: 'ADD agentIds :agentIds',
        ConditionExpression: 'attribute_exists(PK)',
        ExpressionAttributeValues: { ':agentIds': new Set([agentId]) },
      },
    },
  ]);
}

const subscriberOf = (connection: Connection): Record<string, unknown> => ({
  entity: 'subscription',
  connectionId: connection.connectionId,
  userId: connection.userId,
  role: connection.role,
  expiresAt: connection.expiresAt,
});

/**
 * Puts a (staff) connection on the fleet channel, only while the connection exists. `$disconnect` always deletes the
 * fleet item of a connection, so nothing needs to be remembered on the connection.
 * @returns false when the connection no longer exists (nothing is written)
 */
export async function subscribeFleet(connection: Connection): Promise<boolean> {
  return transactWhileConnected([
    {
      Put: {
        TableName: TABLE_NAME,
        Item: { ...keys.fleetSubscription(connection.connectionId), ...subscriberOf(connection) },
      },
    },
    {
      ConditionCheck: {
        TableName: TABLE_NAME,
        Key: keys.connection(connection.connectionId),
        ConditionExpression: 'attribute_exists(PK)',
      },
    },
  ]);
}

/** Writes `items` in one transaction whose condition is that the connection exists; false when it no longer does. */
async function transactWhileConnected(items: TransactWriteCommandInput['TransactItems']): Promise<boolean> {
  try {
    await dynamo.send(new TransactWriteCommand({ TransactItems: items }));
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** Takes a connection off the fleet channel. Idempotent. */
export async function unsubscribeFleet(connectionId: string): Promise<void> {
  await dynamo.send(new DeleteCommand({ TableName: TABLE_NAME, Key: keys.fleetSubscription(connectionId) }));
}

/** Removes one subscription. Idempotent. */
export async function unsubscribe(connectionId: string, agentId: string): Promise<void> {
  await Promise.all([
    dynamo.send(new DeleteCommand({ TableName: TABLE_NAME, Key: keys.subscription(agentId, connectionId) })),
    dynamo
      .send(
        new UpdateCommand({
          TableName: TABLE_NAME,
          Key: keys.connection(connectionId),
          UpdateExpression: 'DELETE agentIds :agentIds',
          // Without it, an update of a connection that is already gone would create a stub item.
          ConditionExpression: 'attribute_exists(PK)',
          ExpressionAttributeValues: { ':agentIds': new Set([agentId]) },
        }),
      )
      .catch((error: unknown) => {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }),
  ]);
}

/** Deletes a connection and every subscription it holds, the fleet channel's included. Idempotent. */
export async function removeConnection(connectionId: string): Promise<void> {
  const agentIds = await readAgentIds(connectionId);
  await deleteItems([
    ...Array.from(agentIds, (agentId) => keys.subscription(agentId, connectionId)),
    keys.fleetSubscription(connectionId),
    keys.connection(connectionId),
  ]);
}

async function readAgentIds(connectionId: string): Promise<ReadonlySet<string>> {
  const { Item } = await dynamo.send(
    new GetCommand({
      TableName: TABLE_NAME,
      Key: keys.connection(connectionId),
      ProjectionExpression: 'agentIds',
      ConsistentRead: true,
    }),
  );
  return (Item?.agentIds as Set<string> | undefined) ?? new Set();
}

const storedSubscription = z.object({
  connectionId: z.string(),
  userId: z.string(),
  role: storedRole,
  expiresAt: z.number(),
});

/**
 * Every live follower of an agent: a Query on the agent's partition (`begins_with(SK, 'SUB#')`), all pages; expired
 * subscriptions that TTL has not removed yet are left out.
 */
export function subscribersOf(agentId: string, now: Date = new Date()): Promise<Subscriber[]> {
  return subscribersIn(keys.agent(agentId).PK, now);
}

/** Every live connection on the fleet channel: one Query on its own small partition. */
export function fleetSubscribers(now: Date = new Date()): Promise<Subscriber[]> {
  return subscribersIn(FLEET_SUBSCRIPTIONS_PARTITION, now);
}

async function subscribersIn(partition: string, now: Date): Promise<Subscriber[]> {
  const subscribers: Subscriber[] = [];
  const pages = paginateQuery(
    { client: dynamo },
    {
      TableName: TABLE_NAME,
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
      ExpressionAttributeValues: { ':pk': partition, ':prefix': SUBSCRIPTION_PREFIX },
      ProjectionExpression: 'connectionId, userId, #role, expiresAt',
      ExpressionAttributeNames: { '#role': 'role' },
    },
  );
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      const subscriber = storedSubscription.parse(item);
      if (!isExpired(subscriber.expiresAt, now)) subscribers.push(subscriber);
    }
  }
  return subscribers;
}

/** A server message as a WebSocket frame's bytes, serialized once however many connections receive it. */
export function encodeMessage(message: ServerMessage): Uint8Array {
  const data = Buffer.from(JSON.stringify(message), 'utf8');
  if (data.byteLength > MAX_MESSAGE_BYTES) {
    throw new Error(`A ${message.type} message of ${data.byteLength} bytes exceeds the WebSocket frame limit`);
  }
  return data;
}

/** What happened to a message posted to a connection. */
export type Delivery = 'delivered' | 'gone';

/**
 * Posts one encoded message to a connection through the management API.
 * @returns 'gone' when API Gateway answers 410 (the client has disconnected); other failures throw
 */
export async function postMessage(
  client: ApiGatewayManagementApiClient,
  connectionId: string,
  data: Uint8Array,
): Promise<Delivery> {
  try {
    await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
    return 'delivered';
  } catch (error) {
    if (error instanceof GoneException) return 'gone';
    throw error;
  }
}

function isExpired(expiresAt: number, now: Date): boolean {
  return expiresAt < Math.floor(now.getTime() / 1000);
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof TransactionCanceledException &&
    (error.CancellationReasons ?? []).some((reason) => reason.Code === 'ConditionalCheckFailed')
  );
}

type ItemKey = { PK: string; SK: string };

/** BatchWriteItem deletes in chunks of 25, retrying what DynamoDB leaves unprocessed under throttling. */
async function deleteItems(itemKeys: readonly ItemKey[]): Promise<void> {
  for (let start = 0; start < itemKeys.length; start += BATCH_WRITE_LIMIT) {
    let requests = itemKeys.slice(start, start + BATCH_WRITE_LIMIT).map((Key) => ({ DeleteRequest: { Key } }));
    for (let attempt = 1; requests.length > 0; attempt++) {
      if (attempt > BATCH_WRITE_ATTEMPTS) throw new Error(`${requests.length} deletes left unprocessed`);
      if (attempt > 1) await sleep(BATCH_WRITE_BACKOFF_MS * 2 ** attempt);
      const { UnprocessedItems } = await dynamo.send(
        new BatchWriteCommand({ RequestItems: { [TABLE_NAME]: requests } }),
      );
      requests = (UnprocessedItems?.[TABLE_NAME] ?? []).flatMap((request) =>
        request.DeleteRequest?.Key === undefined
          ? []
          : [{ DeleteRequest: { Key: request.DeleteRequest.Key as ItemKey } }],
      );
    }
  }
}
