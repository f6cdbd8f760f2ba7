/**
 * `POST /agents/{agentId}/actions`: idempotent, rate-limited, one conditional transition that requests its execution.
 * See docs/ARCHITECTURE.md, "Lifecycle actions".
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { actorOf, type Caller } from '../domain/access.ts';
import { newId } from '../domain/ids.ts';
import { CANCELLED_STEP } from '../domain/steps.ts';
import type { AgentStatus } from '../domain/statuses.ts';
import {
  destroysAfterCancel,
  isActionAllowed,
  isCancellable,
  type AgentAction,
  planOf,
  RATE_LIMIT,
  rateWindowOf,
  refusalMessageOf,
  type ActionSubject,
} from '../domain/lifecycle.ts';
import type { ProvisionInput } from '../domain/schemas.ts';
import { dynamo } from '../shared/clients/dynamodb.ts';
import { createJob, recordAgentTransition, recordJobEvent, type Actor } from '../shared/job-writer.ts';
import { keys } from '../shared/keys.ts';
import { lifecycleExecution } from '../shared/executions.ts';
import { logger } from '../shared/logger.ts';
import { getJob, tableName, type AgentRecord, type JobRecord } from '../shared/repository.ts';
import { endCancelledWait } from '../shared/task-tokens.ts';
import { lessThan, notExists, or, updateOf } from '../shared/update-expression.ts';
import { claimKey, completeKey, releaseKey, type IdempotencyScope } from './idempotency.ts';

/** How long the waits of a retry's provisioning execution may take. */
export interface ActionSettings {
  timeouts: ProvisionInput['timeouts'];
  /** The function's timeout: an idempotency claim older than this was left by a function that died. */
  idempotencyLeaseSeconds: number;
}

/** What the route answers; replays answer the stored one. */
export interface ActionResponse {
  statusCode: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

export interface ActionRequest {
  /** The owner, or an operator acting on anyone's agent (access.ts#mayAct allowed it). */
  caller: Caller;
  agent: AgentRecord;
  action: AgentAction;
  idempotencyKey: string;
  /** The whole request's fingerprint (domain/request-fingerprint.ts): the key sent again with another is refused. */
  fingerprint: string;
  /** Why: required of operators, kept on the history item with the actor. */
  reason?: string;
}

const scopeOf = (request: ActionRequest): IdempotencyScope => ({
  userId: request.caller.userId,
  agentId: request.agent.agentId,
  key: request.idempotencyKey,
});
const rateKeyOf = keys.rateWindow;

const error = (
  statusCode: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
): ActionResponse => ({
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
  const scope = scopeOf(request);
  const claim = await claimKey<ActionResponse>(scope, request.fingerprint, settings.idempotencyLeaseSeconds, now);
  switch (claim.kind) {
    case 'reused-with-another-body':
      return error(
        422,
        'idempotency_key_reused',
        'This Idempotency-Key was used with another request: send the same request again, or this one with a new key',
      );
    case 'in-progress':
      return error(409, 'request_in_progress', 'A request with this Idempotency-Key is still being processed');
    case 'completed':
      return { ...claim.response, headers: { ...claim.response.headers, 'idempotent-replayed': 'true' } };
    case 'claimed':
      break;
  }

  try {
    if (!(await withinRateLimit(request.caller.userId, request.agent.agentId, now))) {
      await releaseKey(scope);
      const { retryAfter } = rateWindowOf(now);
      return error(429, 'rate_limited', `At most ${RATE_LIMIT.limit} actions per minute per agent`, {
        'retry-after': String(retryAfter),
      });
    }
    const response = await carryOut(request, settings, now);
    await completeKey(scope, response);
    return response;
  } catch (failure) {
    // Nothing to replay: the client may send the same key again.
    await releaseKey(scope);
    throw failure;
  }
}

async function carryOut(request: ActionRequest, settings: ActionSettings, now: Date): Promise<ActionResponse> {
  const { agent, action, caller, reason } = request;
  const actor = actorOf(caller);
  const audit = reason === undefined ? {} : { reason };
  const record = {
    actionId: newId('act', now),
    action,
    agentId: agent.agentId,
    requestedBy: caller.userId,
    requestedAt: now.toISOString(),
    ...audit,
  };
  if (action === 'cancel') return cancelProvisioning(agent, actor, reason, record, now);
  const refused = (current: ActionSubject) => error(409, 'action_refused', refusalMessageOf(action, current));

  if (action === 'retry') {
    // createJob also takes a draft (a paid checkout); a retry only takes a failed agent. No status leads back to
    // draft, so this read cannot go stale in a way that matters.
    if (!isActionAllowed('retry', agent)) return refused(agent);
    const result = await createJob(
      {
        agentId: agent.agentId,
        userId: agent.userId,
        region: agent.region,
        actor,
        timeouts: settings.timeouts,
        ...audit,
      },
      now,
    );
    if (result.kind === 'agent-busy') return refused({ agentStatus: result.agentStatus });
    if (result.kind !== 'created') return error(404, 'agent_not_found', 'No such agent');
    const { jobId } = result.job;
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
      ...audit,
      // Accepted: the failure of the previous action is history now.
      fields: { actionError: undefined },
      execution: lifecycleExecution({ action, agentId: agent.agentId, actor }),
    },
    () => now,
  );
  if (result.kind === 'refused') return refused(result.agent);
  if (result.kind !== 'changed') return error(404, 'agent_not_found', 'No such agent');
  return { statusCode: 202, body: { ...record, status: 'accepted', agentStatus: plan.pending } };
}

/**
 * Cancels the agent's live provisioning: its job fails with who and why through the one domain writer (the agent
 * becomes `failed`, with its time to retry, and the history item keeps the actor and any reason), then the
 * execution's current wait is ended with `ProvisioningCancelled`, so it rolls back the run, the server and the device
 * at once. The failed job is what makes it safe: a late callback of the run is answered `ignored: terminal` (the
 * workflow stops and deletes what it built, I6), a wait that stores its token later finds the job not live, and a
 * wait that is never told (its token not stored yet, or Step Functions unreachable now) ends at its own timeout; each
 * of these goes through CheckRun, which finds the job failed, to MarkFailed and Rollback.
 * The owner's own cancel then destroys the agent through the one destroy path (lifecycle.ts#destroysAfterCancel):
 * a second write, so one that failed is made again by the same request sent again, which finds its job cancelled.
 */
async function cancelProvisioning(
  agent: AgentRecord,
  actor: Actor,
  reason: string | undefined,
  record: Record<string, unknown>,
  now: Date,
): Promise<ActionResponse> {
  const job = agent.currentJobId === undefined ? undefined : await getJob(agent.currentJobId);
  const ended = () => error(409, 'action_refused', `Cannot cancel: the agent is ${agent.agentStatus} with no live job`);
  const accepted = (agentStatus: AgentStatus) => ({
    statusCode: 202,
    body: { ...record, status: 'accepted', agentStatus, jobId: job?.jobId },
  });
  const destroyAfterCancel = destroysAfterCancel(actor);
  if (job !== undefined && destroyAfterCancel && isOwnCancelLeftFailed(agent, job)) {
    return (await destroyCancelled(agent.agentId, job.jobId, actor, now)) ? accepted('destroying') : ended();
  }
  if (job === undefined || !isCancellable(agent, job)) return ended();
  const outcome = await recordJobEvent(
    job.jobId,
    { kind: 'cancelled', actor, ...(reason === undefined ? {} : { reason }) },
    actor,
    () => now,
  );
  // The job ended meanwhile (activated or failed): nothing left to cancel.
  if (outcome.kind !== 'changed') return error(409, 'action_refused', 'Cannot cancel: the provisioning has ended');
  if (outcome.job.error !== undefined) await tellExecution(job.jobId, outcome.job.error);
  if (!destroyAfterCancel) return accepted('failed');
  return (await destroyCancelled(agent.agentId, job.jobId, actor, now)) ? accepted('destroying') : accepted('failed');
}

/** The owner's cancel was recorded but its destroy was not (the request is sent again): the destroy is what is left. */
function isOwnCancelLeftFailed(agent: AgentRecord, job: JobRecord): boolean {
  return (
    agent.agentStatus === 'failed' &&
    agent.currentJobId === job.jobId &&
    job.status === 'failed' &&
    job.failedStep === CANCELLED_STEP
  );
}

/** Moves the agent whose provisioning its owner cancelled to `destroying`, with its destroy execution requested. */
async function destroyCancelled(agentId: string, jobId: string, actor: Actor, now: Date): Promise<boolean> {
  const result = await recordAgentTransition(
    agentId,
    {
      from: (current) => current.currentJobId === jobId && isActionAllowed('destroy', current),
      to: planOf('destroy').pending,
      event: 'destroy-requested',
      actor,
      fields: { actionError: undefined },
      execution: lifecycleExecution({ action: 'destroy', agentId, actor }),
    },
    () => now,
  );
  return result.kind === 'changed';
}

/**
 * Ends the wait whose token the job holds now: read after the write, which no later token can follow (a token is
 * stored on a live job only). Best effort: the cancel is recorded, and an execution not told ends at its next step or
 * timeout the same way.
 */
async function tellExecution(jobId: string, jobError: string): Promise<void> {
  try {
    const taskToken = (await getJob(jobId))?.taskToken;
    if (taskToken !== undefined) await endCancelledWait(jobId, taskToken, jobError);
  } catch (failure) {
    logger.warn('Could not end the wait of the cancelled job; its execution rolls back at its next timeout', {
      jobId,
      error: failure,
    });
  }
}

/** Counts this request in the current window (a conditional counter item that expires with it). */
async function withinRateLimit(userId: string, agentId: string, now: Date): Promise<boolean> {
  const { start } = rateWindowOf(now);
  try {
    await dynamo.send(
      new UpdateCommand({
        TableName: tableName(),
        Key: rateKeyOf(userId, agentId, start),
        ...updateOf({
          add: { count: 1 },
          // Kept one window longer than needed; TTL deletion is lazy anyway and the key names its window.
          set: { entity: 'rate-limit', expiresAt: start + 2 * RATE_LIMIT.windowSeconds },
          condition: or(notExists('count'), lessThan('count', RATE_LIMIT.limit)),
        }),
      }),
    );
    return true;
  } catch (failure) {
    if (failure instanceof ConditionalCheckFailedException) return false;
    throw failure;
  }
}
