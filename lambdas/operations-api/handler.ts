/**
 * The operations console's REST routes (HTTP API, access-token authorizer), for operators and support only: every job
 * newest first with filters, the fleet's health from the table, and an agent's audit trail. Read only: actions go
 * through `POST /agents/{agentId}/actions` (agents-api) like the owner's, with the operator and a reason recorded.
 * Support receives everything redacted (lambdas/domain/access.ts).
 */
import { isStaff, shownTo } from '../domain/access.ts';
import { LIFECYCLE_EXECUTION_TIMEOUT_SECONDS } from '../domain/deadlines.ts';
import { fleetHealth, jobAgentOf, jobSummaryOf, DAY_MS, type StuckBounds } from '../domain/operations.ts';
import { region } from '../domain/schemas.ts';
import { JOB_STATUSES } from '../domain/statuses.ts';
import * as z from '../domain/zod-mini.ts';
import { loadConfig, tableConfig, timeoutsConfig } from '../shared/config.ts';
import {
  agentIdOf,
  agentNotFound,
  byRouteKey,
  callerOf,
  dashboardApiHandler,
  forbidden,
  HttpError,
  type DashboardRequest as Request,
  type DashboardResponse as Response,
} from '../shared/dashboard-api.ts';
import { json } from '../shared/http.ts';
import { getAgent } from '../shared/repository.ts';
import { jobsCreatedSince } from '../shared/jobs-by-time.ts';
import { agentsPastLifecycleBound, auditTrail, decodeCursor, jobsPage } from './fleet-reads.ts';

// With the state machine's timeouts (the same settings the execution input is built from): a job past them is stuck.
const config = loadConfig({ ...tableConfig, ...timeoutsConfig });

const bounds: StuckBounds = {
  startSeconds: config.START_TIMEOUT_SECONDS,
  heartbeatSeconds: config.HEARTBEAT_TIMEOUT_SECONDS,
  totalSeconds: config.START_TIMEOUT_SECONDS + config.COMPLETION_TIMEOUT_SECONDS,
  lifecycleSeconds: LIFECYCLE_EXECUTION_TIMEOUT_SECONDS,
};

const DEFAULT_PAGE = 25;
const AUDIT_ENTRIES = 50;

const filterText = z.string().check(z.regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be 1-128 letters, digits, "_" or "-"'));
const jobsQuery = z.object({
  status: z.optional(z.enum(JOB_STATUSES)),
  failedStep: z.optional(filterText),
  region: z.optional(region),
  userId: z.optional(filterText),
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100)), DEFAULT_PAGE),
  cursor: z.optional(z.string().check(z.maxLength(1000))),
});

/**
 * GET /operations/jobs: one page of jobs, newest first, each with its agent's name, status and the Retry or Cancel the
 * caller may take from it; `cursor` in the answer asks for the next one.
 */
async function listJobs(request: Request): Promise<Response> {
  const caller = callerOf(request);
  const parsed = jobsQuery.safeParse(request.queryStringParameters ?? {});
  if (!parsed.success) throw new HttpError(400, 'invalid_request', z.prettifyError(parsed.error));
  const { limit, cursor, ...filter } = parsed.data;
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  if (cursor !== undefined && after === undefined)
    throw new HttpError(400, 'invalid_cursor', 'The cursor is not one this API gave');
  const page = await jobsPage(filter, limit, after);
  const agents = new Map(
    await Promise.all(
      [...new Set(page.jobs.map((job) => job.agentId))].map(
        async (agentId) => [agentId, await getAgent(agentId)] as const,
      ),
    ),
  );
  const now = new Date();
  const summaryOf = (job: (typeof page.jobs)[number]) => {
    const agent = agents.get(job.agentId);
    return jobSummaryOf(job, now, agent === undefined ? undefined : jobAgentOf(caller, job, agent));
  };
  return json(
    200,
    shownTo(caller.role, {
      jobs: page.jobs.map(summaryOf),
      ...(page.cursor === undefined ? {} : { cursor: page.cursor }),
    }),
  );
}

/**
 * GET /operations/health: the last hour and the last 24 hours, from the jobs created in the last 24 hours; stuck also
 * lists stops, starts and destroys past the lifecycle state machine's timeout.
 */
async function health(request: Request): Promise<Response> {
  const caller = callerOf(request);
  const now = new Date();
  const [jobs, lifecycleAgents] = await Promise.all([
    jobsCreatedSince(new Date(now.getTime() - DAY_MS)),
    agentsPastLifecycleBound(now, bounds),
  ]);
  return json(200, shownTo(caller.role, fleetHealth(jobs, now, bounds, lifecycleAgents)));
}

/** GET /operations/agents/{agentId}/history: who did what to the agent, when and why, newest first. */
async function agentHistory(request: Request): Promise<Response> {
  const caller = callerOf(request);
  const agent = await getAgent(agentIdOf(request));
  if (agent === undefined) throw agentNotFound();
  const entries = await auditTrail(agent.agentId, AUDIT_ENTRIES);
  return json(200, shownTo(caller.role, { agentId: agent.agentId, userId: agent.userId, name: agent.name, entries }));
}

const routes = byRouteKey({
  'GET /operations/jobs': listJobs,
  'GET /operations/health': health,
  'GET /operations/agents/{agentId}/history': agentHistory,
});

export const handler = dashboardApiHandler(async (request) => {
  if (!isStaff(callerOf(request))) throw forbidden('The operations console is for operators and support');
  return routes(request);
});
