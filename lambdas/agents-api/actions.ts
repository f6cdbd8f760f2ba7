/**
 * `POST /agents/{agentId}/actions`: idempotent (per user, agent and `Idempotency-Key`), rate-limited (5 per minute per
 * user and agent), and carried out by a conditional transition of the agent plus one execution: provisioning for
 * `retry`, the lifecycle state machine for `stop` / `start` / `destroy`. Progress reaches the dashboard through the
 * history items those writes add, like provisioning.
 *
 * Idempotency is a conditional-put record on the one table (`IDEMPOTENCY#<user>#<agent>#<key>` / `IDEMPOTENCY`):
 * Powertools' DynamoDB persistence layer writes its own key layout (`<function>#<hash>` partition keys), which does not
 * fit the table's `PK`/`SK` convention. Same key + same body replays the first answer; same key + another body is 422.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { newId } from '../domain/ids.ts';
import {
  isActionAllowed,
  planOf,
  RATE_LIMIT,
  rateWindowOf,
  refusalMessageOf,
  type ActionSubject,
  type LifecycleAction,
} from '../domain/lifecycle.ts';
import { requestFingerprint } from '../domain/request-fingerprint.ts';
import { region as regionSchema, type ProvisionInput } from '../domain/schemas.ts';
import { dynamo } from '../shared/clients/dynamodb.ts';
import { createJob, recordAgentTransition } from '../shared/job-writer.ts';
import { keys } from '../shared/keys.ts';
import { lifecycleExecutionName, startLifecycle, startProvisioning } from '../shared/provisioning.ts';
import { tableName, type AgentRecord } from '../shared/repository.ts';

/** Where the executions of accepted actions run. */
export interface ActionSettings {
  provisionStateMachineArn: string;
  lifecycleStateMachineArn: string;
  timeouts: ProvisionInput['timeouts'];
}

/** What the route answers; replays answer the stored one. */
export interface ActionResponse {
  statusCode: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

export interface ActionRequest {
  userId: string;
  agent: AgentRecord;
  action: LifecycleAction;
  idempotencyKey: string;
}

/** How long a key is remembered: a client retrying after a day sends a new request. */
const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

const idempotencyKeyOf = (request: ActionRequest) => keys.idempotency(request.userId, request.agent.agentId, request.idempotencyKey);
const rateKeyOf = keys.rateWindow;

const error = (statusCode: number, code: string, message: string, headers?: Record<string, string>): ActionResponse => ({
  statusCode,
  body: { error: { code, message } },
  ...(headers === undefined ? {} : { headers }),
});

/** Accepts (202), refuses (409) or replays an action request; throws only on infrastructure failures. */
export async function requestLifecycleAction(
  request: ActionRequest,
  settings: ActionSettings,
  now: Date = new Date(),
): Promise<ActionResponse> {
  const fingerprint = requestFingerprint({ action: request.action });
  const claimed = await claimKey(request, fingerprint, now);
  if (claimed !== 'claimed') return claimed;

  try {
    if (!(await withinRateLimit(request.userId, request.agent.agentId, now))) {
      await releaseKey(request);
      const { retryAfter } = rateWindowOf(now);
      return error(429, 'rate_limited', `At most ${RATE_LIMIT.limit} actions per minute per agent`, {
        'retry-after': String(retryAfter),
      });
    }
    const response = await carryOut(request, settings, now);
    await completeKey(request, response);
    return response;
  } catch (failure) {
    // Nothing to replay: the client may send the same key again.
    await releaseKey(request);
    throw failure;
  }
}

async function carryOut(request: ActionRequest, settings: ActionSettings, now: Date): Promise<ActionResponse> {
  const { agent, action, userId } = request;
  const actor = `user:${userId}`;
  const record = {
    actionId: newId('act', now),
    action,
    agentId: agent.agentId,
    requestedBy: userId,
    requestedAt: now.toISOString(),
  };
  const refused = (current: ActionSubject) => error(409, 'action_refused', refusalMessageOf(action, current));

  if (action === 'retry') {
    // createJob also takes a draft (a paid checkout); a retry only takes a failed agent. No status leads back to
    // draft, so this read cannot go stale in a way that matters.
    if (!isActionAllowed('retry', agent)) return refused(agent);
    const result = await createJob({ agentId: agent.agentId, userId, region: agent.region, actor }, now);
    if (result.kind === 'agent-busy') return refused({ agentStatus: result.agentStatus });
    if (result.kind !== 'created') return error(404, 'agent_not_found', 'No such agent');
    const { jobId } = result.job;
    await startProvisioning(
      { jobId, agentId: agent.agentId, userId, region: regionSchema.parse(agent.region), timeouts: settings.timeouts },
      settings.provisionStateMachineArn,
    );
    return { statusCode: 202, body: { ...record, status: 'accepted', agentStatus: 'provisioning', jobId } };
  }

  const plan = planOf(action);
  const result = await recordAgentTransition(
    agent.agentId,
    {
      from: (current) => isActionAllowed(action, current),
      to: plan.pending,
      event: `${action}-requested`,
      actor,
      // Accepted: the failure of the previous action is history now.
      fields: { actionError: undefined },
    },
    () => now,
  );
  if (result.kind === 'refused') return refused({ agentStatus: result.agentStatus });
  if (result.kind !== 'changed') return error(404, 'agent_not_found', 'No such agent');
  const input = { action, agentId: agent.agentId, actor };
  await startLifecycle(input, lifecycleExecutionName(input, result.seq), settings.lifecycleStateMachineArn);
  return { statusCode: 202, body: { ...record, status: 'accepted', agentStatus: plan.pending } };
}

/** Claims the key for this request, or answers what an earlier request with the same key decided. */
async function claimKey(request: ActionRequest, fingerprint: string, now: Date): Promise<'claimed' | ActionResponse> {
  const epoch = Math.floor(now.getTime() / 1000);
  try {
    await dynamo.send(
      new PutCommand({
        TableName: tableName(),
        Item: {
          ...idempotencyKeyOf(request),
          entity: 'idempotency',
          status: 'in-progress',
          fingerprint,
          createdAt: now.toISOString(),
          expiresAt: epoch + IDEMPOTENCY_TTL_SECONDS,
        },
        // TTL deletion is lazy: an expired record counts as absent.
        ConditionExpression: 'attribute_not_exists(PK) OR expiresAt < :now',
        ExpressionAttributeValues: { ':now': epoch },
      }),
    );
    return 'claimed';
  } catch (failure) {
    if (!(failure instanceof ConditionalCheckFailedException)) throw failure;
  }
  const { Item } = await dynamo.send(
    new GetCommand({ TableName: tableName(), Key: idempotencyKeyOf(request), ConsistentRead: true }),
  );
  if (Item === undefined) return claimKey(request, fingerprint, now);
  if (Item.fingerprint !== fingerprint) {
    return error(422, 'idempotency_key_reused', 'This Idempotency-Key was used with another request body');
  }
  if (Item.status !== 'completed') {
    return error(409, 'request_in_progress', 'A request with this Idempotency-Key is still being processed');
  }
  const stored = Item.response as ActionResponse;
  return { ...stored, headers: { ...stored.headers, 'idempotent-replayed': 'true' } };
}

async function completeKey(request: ActionRequest, response: ActionResponse): Promise<void> {
  await dynamo.send(
    new UpdateCommand({
      TableName: tableName(),
      Key: idempotencyKeyOf(request),
      UpdateExpression: 'SET #status = :completed, #response = :response',
      ExpressionAttributeNames: { '#status': 'status', '#response': 'response' },
      ExpressionAttributeValues: { ':completed': 'completed', ':response': response },
    }),
  );
}

async function releaseKey(request: ActionRequest): Promise<void> {
  await dynamo.send(new DeleteCommand({ TableName: tableName(), Key: idempotencyKeyOf(request) }));
}

/** Counts this request in the current window (a conditional counter item that expires with it). */
async function withinRateLimit(userId: string, agentId: string, now: Date): Promise<boolean> {
  const { start } = rateWindowOf(now);
  try {
    await dynamo.send(
      new UpdateCommand({
        TableName: tableName(),
        Key: rateKeyOf(userId, agentId, start),
        UpdateExpression: 'ADD #count :one SET entity = :entity, expiresAt = :expiresAt',
        ConditionExpression: 'attribute_not_exists(#count) OR #count < :limit',
        ExpressionAttributeNames: { '#count': 'count' },
        ExpressionAttributeValues: {
          ':one': 1,
          ':limit': RATE_LIMIT.limit,
          ':entity': 'rate-limit',
          // Kept one window longer than needed; TTL deletion is lazy anyway and the key names its window.
          ':expiresAt': start + 2 * RATE_LIMIT.windowSeconds,
        },
      }),
    );
    return true;
  } catch (failure) {
    if (failure instanceof ConditionalCheckFailedException) return false;
    throw failure;
  }
}
