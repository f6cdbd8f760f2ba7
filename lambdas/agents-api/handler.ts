/**
 * The dashboard's REST API (HTTP API, payload 2.0, access-token authorizer): the caller's agents, creating one and
 * lifecycle actions. Paying for an agent (`POST /agents/{agentId}/checkout`) is the checkout function's: only it
 * carries Stripe.
 */
import { createHash } from 'node:crypto';
import { mayAct, maySee, reasonRequired, shownTo } from '../domain/access.ts';
import { agentViewOf } from '../domain/job-events.ts';
import { requestFingerprint } from '../domain/request-fingerprint.ts';
import { DAY_MS, usualStepDurations, type StepDurations } from '../domain/operations.ts';
import {
  agentActionRequest,
  createAgentRequest,
  logsQuery,
  type AgentView,
  type LogsPage,
  type UsualDurations,
} from '../domain/schemas.ts';
import { refusalText } from '../domain/validation.ts';
import * as z from '../domain/zod-mini.ts';
import { loadConfig, tableConfig, timeoutsConfig, timeoutsOf } from '../shared/config.ts';
import {
  agentIdOf,
  agentNotFound,
  byRouteKey,
  callerOf,
  dashboardApiHandler,
  forbidden,
  HttpError,
  visibleAgent,
  type DashboardRequest as Request,
  type DashboardResponse as Response,
} from '../shared/dashboard-api.ts';
import { header, json, utf8Body } from '../shared/http.ts';
import { logBatchesAfter } from '../shared/job-logs.ts';
import { jobsCreatedSince } from '../shared/jobs-by-time.ts';
import { agentView, createAgent, getJob, listAgentsByUser, type AgentRecord } from '../shared/repository.ts';
import { requestLifecycleAction, type ActionSettings } from './actions.ts';

const config = loadConfig({
  ...tableConfig,
  ...timeoutsConfig,
  // The function's own timeout, set by the stack: the lease of an idempotency claim.
  IDEMPOTENCY_LEASE_SECONDS: z.coerce.number().check(z.int(), z.positive()),
});

/** Accepted actions request their executions with the write (the execution-starter starts them): no ARN here. */
const actionSettings: ActionSettings = {
  timeouts: timeoutsOf(config),
  idempotencyLeaseSeconds: config.IDEMPOTENCY_LEASE_SECONDS,
};

const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{8,128}$/;

// ---------------------------------------------------------------------------------------------------------------------
// Routes

/** GET /agents: the caller's own agents, oldest first (operators and support see the fleet at /operations/jobs). */
async function listAgents(request: Request): Promise<Response> {
  const agents = await listAgentsByUser(callerOf(request).userId);
  const views = await Promise.all(agents.map(viewOf));
  return json(200, { agents: views });
}

/**
 * POST /agents: a new draft agent (201), or the caller's open draft of the same name and region (200), so that going
 * back from the checkout and trying again pays for the draft already made (whose open Checkout Session checkout
 * answers again) instead of piling up another. Support is read only.
 */
async function createDraftAgent(request: Request): Promise<Response> {
  const caller = callerOf(request);
  if (caller.role === 'support') throw forbidden('Support is read only');
  const { name, region } = parseBody(request, createAgentRequest);
  const open = (await listAgentsByUser(caller.userId)).find((agent) => isOpenDraftOf(agent, name, region));
  const agent = open ?? (await createAgent({ userId: caller.userId, name, region }));
  return json(open === undefined ? 201 : 200, agentViewOf(agent, undefined), { location: `/agents/${agent.agentId}` });
}

/** A draft that may still be paid for (its subscription did not end before its checkout), of that name and region. */
function isOpenDraftOf(agent: AgentRecord, name: string, region: string): boolean {
  return (
    agent.agentStatus === 'draft' &&
    agent.subscriptionEndedAt === undefined &&
    agent.name === name &&
    agent.region === region
  );
}

/**
 * GET /agents/{agentId}: the agent's view (redacted for support), with a strong ETag so a poller can ask "changed?"
 * for free.
 */
async function getAgentView(request: Request): Promise<Response> {
  const agentId = agentIdOf(request);
  const caller = callerOf(request);
  const found = await agentView(agentId);
  if (found === undefined || !maySee(caller, found.agent)) throw agentNotFound();
  const view = shownTo(caller.role, found.view);
  const etag = etagOf(view);
  // Revalidate on every use: the view changes while an agent is provisioned.
  const headers = { etag, 'cache-control': 'private, no-cache' };
  if (matchesEtag(header(request, 'if-none-match'), etag)) return { statusCode: 304, headers };
  return json(200, view, headers);
}

/**
 * GET /agents/{agentId}/logs?after=<batch>[&jobId=<job>]: the log batches of the agent's current job (or of an earlier
 * attempt of the same agent) after batch `after`, oldest first, redacted for support. With the WebSocket's `logs`
 * messages, a client that asks from the last batch it holds misses none and repeats none.
 */
async function getLogs(request: Request): Promise<Response> {
  const caller = callerOf(request);
  const agent = await visibleAgent(request);
  const query = logsQuery.safeParse(request.queryStringParameters ?? {});
  if (!query.success) throw new HttpError(400, 'invalid_request', refusalText(query.error));
  const { after, jobId: asked } = query.data;
  const jobId = asked ?? agent.currentJobId;
  if (asked !== undefined && (await getJob(asked))?.agentId !== agent.agentId) {
    throw new HttpError(404, 'job_not_found', 'This agent has no such job');
  }
  const { batches, more } = jobId === undefined ? { batches: [], more: false } : await logBatchesAfter(jobId, after);
  const page: LogsPage = {
    agentId: agent.agentId,
    jobId: jobId ?? null,
    batches,
    cursor: batches.at(-1)?.batch ?? after,
    more,
  };
  return json(200, shownTo(caller.role, page), { 'cache-control': 'private, no-store' });
}

/**
 * Each region's usual durations, computed from one read of the fleet's jobs of the last day and kept by each instance
 * for five minutes; while some step has no duration yet in the region, only for ten seconds (its first jobs are about
 * to give it one).
 */
const USUAL_DURATIONS_CACHE_MS = 5 * 60_000;
const UNKNOWN_DURATIONS_CACHE_MS = 10_000;
const usualByRegion = new Map<string, { readAt: number; steps: StepDurations[] }>();
const everyStepKnown = (steps: readonly StepDurations[]) => steps.every((step) => step.count > 0);
async function usualDurationsIn(region: string, now: Date): Promise<StepDurations[]> {
  const cached = usualByRegion.get(region);
  const known = cached !== undefined && everyStepKnown(cached.steps);
  const age = cached === undefined ? Number.POSITIVE_INFINITY : now.getTime() - cached.readAt;
  if (cached !== undefined && age <= (known ? USUAL_DURATIONS_CACHE_MS : UNKNOWN_DURATIONS_CACHE_MS))
    return cached.steps;
  const jobs = await jobsCreatedSince(new Date(now.getTime() - DAY_MS));
  const steps = usualStepDurations(jobs, region, now);
  usualByRegion.set(region, { readAt: now.getTime(), steps });
  return steps;
}

/**
 * GET /agents/{agentId}/usual-durations: p50 and p95 of each step the fleet completed in the agent's region over the
 * last day (the console's health numbers, operations.ts), cached by the instance (usualDurationsIn) and five minutes
 * in the browser (ten seconds while a step has none yet).
 */
async function getUsualDurations(request: Request): Promise<Response> {
  const agent = await visibleAgent(request);
  const now = new Date();
  const body: UsualDurations = {
    agentId: agent.agentId,
    region: agent.region,
    windowHours: DAY_MS / 3_600_000,
    steps: await usualDurationsIn(agent.region, now),
  };
  const keptMs = everyStepKnown(body.steps) ? USUAL_DURATIONS_CACHE_MS : UNKNOWN_DURATIONS_CACHE_MS;
  return json(200, body, { 'cache-control': `private, max-age=${keptMs / 1000}` });
}

/**
 * POST /agents/{agentId}/actions: 202 with the action record (progress follows over the WebSocket), 403 for support
 * (access.ts#mayAct), 400 for an operator without a reason, 409 for a transition the agent's state refuses
 * (lifecycle.ts#isAcceptedNow: the page offers exactly what passes both, access.ts#offeredActions), 422 for a reused
 * key with another body, 429 over the rate limit. An operator may act on any agent; the history keeps who, when and
 * why.
 */
async function requestAction(request: Request): Promise<Response> {
  const idempotencyKey = header(request, 'idempotency-key');
  if (idempotencyKey === undefined || !IDEMPOTENCY_KEY.test(idempotencyKey)) {
    throw new HttpError(
      400,
      'invalid_idempotency_key',
      'An Idempotency-Key header of 8-128 letters, digits or _.:- is required',
    );
  }
  const body = jsonBody(request);
  const { action, reason } = parsed(body, agentActionRequest);
  const caller = callerOf(request);
  const agent = await visibleAgent(request);
  if (!mayAct(caller, agent)) throw forbidden('Support is read only');
  if (reasonRequired(caller) && reason === undefined) {
    throw new HttpError(400, 'reason_required', "An operator action needs a reason: it is kept on the agent's history");
  }
  // The whole request, as the client sent it: the same key with any other field is refused, not replayed.
  const fingerprint = requestFingerprint({ method: 'POST', path: request.rawPath, body });
  const answer = await requestLifecycleAction(
    { caller, agent, action, idempotencyKey, fingerprint, ...(reason === undefined ? {} : { reason }) },
    actionSettings,
  );
  return json(answer.statusCode, answer.body, answer.headers);
}

const route = byRouteKey({
  'GET /agents': listAgents,
  'POST /agents': createDraftAgent,
  'GET /agents/{agentId}': getAgentView,
  'GET /agents/{agentId}/logs': getLogs,
  'GET /agents/{agentId}/usual-durations': getUsualDurations,
  'POST /agents/{agentId}/actions': requestAction,
});

// ---------------------------------------------------------------------------------------------------------------------
// Request helpers

function jsonBody(request: Request): unknown {
  try {
    return JSON.parse(utf8Body(request));
  } catch {
    throw new HttpError(400, 'invalid_json', 'The body must be a UTF-8 JSON object');
  }
}

function parsed<T extends z.ZodMiniType>(body: unknown, schema: T): z.infer<T> {
  const result = schema.safeParse(body);
  if (!result.success) throw new HttpError(400, 'invalid_request', refusalText(result.error));
  return result.data;
}

const parseBody = <T extends z.ZodMiniType>(request: Request, schema: T): z.infer<T> =>
  parsed(jsonBody(request), schema);

async function viewOf(agent: AgentRecord): Promise<AgentView> {
  const job = agent.currentJobId === undefined ? undefined : await getJob(agent.currentJobId);
  return agentViewOf(agent, job);
}

/** A strong validator: the same view always gives the same tag, any change gives another. */
function etagOf(view: AgentView): string {
  return `"${createHash('sha256').update(JSON.stringify(view)).digest('base64url')}"`;
}

/** `If-None-Match` uses the weak comparison (RFC 9110 13.1.2): `W/` prefixes are ignored; `*` matches anything. */
function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch
    .split(',')
    .map((candidate) => candidate.trim().replace(/^W\//, ''))
    .some((candidate) => candidate === '*' || candidate === etag);
}

export const handler = dashboardApiHandler(route);
