/**
 * The dashboard's REST API (HTTP API, payload 2.0, JWT authorizer): the caller's agents, creating one, paying for it,
 * and lifecycle actions. API Gateway has verified the token; the caller is its `sub`. An agent that is not the
 * caller's answers 404 like one that does not exist, so ids reveal nothing.
 */
import { createHash } from 'node:crypto';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { z } from 'zod';
import { agentViewOf } from '../domain/job-events.ts';
import {
  agentActionRequest,
  agentId as agentIdSchema,
  checkoutMetadata,
  createAgentRequest,
  type AgentView,
} from '../domain/schemas.ts';
import { loadConfig, seconds } from '../shared/config.ts';
import { errorResponse, header, json, utf8Body } from '../shared/http.ts';
import { logger } from '../shared/logger.ts';
import { agentView, createAgent, getAgent, getJob, listAgentsByUser, type AgentRecord } from '../shared/repository.ts';
import { requestLifecycleAction, type ActionSettings } from './actions.ts';
import { CheckoutUnavailableError, createCheckoutSession, type CheckoutSettings } from './checkout.ts';

/** An unset or empty variable both mean "not configured" (CloudFormation cannot omit a variable conditionally). */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

const config = loadConfig({
  TABLE_NAME: z.string().min(3),
  STRIPE_SECRET_KEY_ID: optional(z.string()),
  STRIPE_PRICE_ID: optional(z.string()),
  STRIPE_API_URL: optional(z.url()),
  DASHBOARD_URL: optional(z.url()),
  SIMULATED_CHECKOUT_URL: optional(z.url()),
  PROVISION_STATE_MACHINE_ARN: optional(z.string()),
  LIFECYCLE_STATE_MACHINE_ARN: optional(z.string()),
  START_TIMEOUT_SECONDS: seconds(900),
  HEARTBEAT_TIMEOUT_SECONDS: seconds(180),
  COMPLETION_TIMEOUT_SECONDS: seconds(2700),
});

const checkoutSettings: CheckoutSettings = {
  secretKeyId: config.STRIPE_SECRET_KEY_ID,
  priceId: config.STRIPE_PRICE_ID,
  dashboardUrl: config.DASHBOARD_URL,
  apiUrl: config.STRIPE_API_URL,
};

/** Both state machines are set by the stack; without them (a test of the other routes) actions answer 503. */
const actionSettings: ActionSettings | undefined =
  config.PROVISION_STATE_MACHINE_ARN === undefined || config.LIFECYCLE_STATE_MACHINE_ARN === undefined
    ? undefined
    : {
        provisionStateMachineArn: config.PROVISION_STATE_MACHINE_ARN,
        lifecycleStateMachineArn: config.LIFECYCLE_STATE_MACHINE_ARN,
        timeouts: {
          startSeconds: config.START_TIMEOUT_SECONDS,
          heartbeatSeconds: config.HEARTBEAT_TIMEOUT_SECONDS,
          completionSeconds: config.COMPLETION_TIMEOUT_SECONDS,
        },
      };

type Request = APIGatewayProxyEventV2WithJWTAuthorizer;
type Response = APIGatewayProxyStructuredResultV2;

/** A refusal with the contract's error body; thrown by the helpers below, answered by the router. */
class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{8,128}$/;

// ---------------------------------------------------------------------------------------------------------------------
// Routes

/** GET /agents: the caller's agents, oldest first. */
async function listAgents(request: Request): Promise<Response> {
  const agents = await listAgentsByUser(callerOf(request));
  const views = await Promise.all(agents.map(viewOf));
  return json(200, { agents: views });
}

/** POST /agents: a new draft agent. */
async function createDraftAgent(request: Request): Promise<Response> {
  const { name, region } = parseBody(request, createAgentRequest);
  const agent = await createAgent({ userId: callerOf(request), name, region });
  return json(201, agentViewOf(agent, undefined), { location: `/agents/${agent.agentId}` });
}

/** GET /agents/{agentId}: the agent's view, with a strong ETag so a poller can ask "changed?" for free. */
async function getAgentView(request: Request): Promise<Response> {
  const agentId = agentIdOf(request);
  const found = await agentView(agentId);
  if (found === undefined || found.agent.userId !== callerOf(request)) throw agentNotFound();
  const etag = etagOf(found.view);
  // Revalidate on every use: the view changes while an agent is provisioned.
  const headers = { etag, 'cache-control': 'private, no-cache' };
  if (matchesEtag(header(request, 'if-none-match'), etag)) return { statusCode: 304, headers };
  return json(200, found.view, headers);
}

/** POST /agents/{agentId}/checkout: a Stripe Checkout URL, only for a draft (nobody pays twice). */
async function startCheckout(request: Request): Promise<Response> {
  const agent = await ownedAgent(request);
  if (agent.agentStatus !== 'draft') {
    throw new HttpError(409, 'agent_not_draft', `The agent is ${agent.agentStatus}: only a draft agent can be paid for`);
  }
  if (config.SIMULATED_CHECKOUT_URL !== undefined) {
    const url = new URL(config.SIMULATED_CHECKOUT_URL);
    url.searchParams.set('agentId', agent.agentId);
    return json(200, { url: url.toString() });
  }
  try {
    const metadata = checkoutMetadata.parse({ agentId: agent.agentId, userId: agent.userId, region: agent.region });
    return json(200, { url: await createCheckoutSession(checkoutSettings, metadata) });
  } catch (error) {
    if (error instanceof CheckoutUnavailableError) throw new HttpError(503, 'checkout_unavailable', error.message);
    throw error;
  }
}

/**
 * POST /agents/{agentId}/actions: 202 with the action record (progress follows over the WebSocket), 409 for a
 * transition the agent's status refuses, 422 for a reused key with another body, 429 over the rate limit.
 */
async function requestAction(request: Request): Promise<Response> {
  const idempotencyKey = header(request, 'idempotency-key');
  if (idempotencyKey === undefined || !IDEMPOTENCY_KEY.test(idempotencyKey)) {
    throw new HttpError(400, 'invalid_idempotency_key', 'An Idempotency-Key header of 8-128 letters, digits or _.:- is required');
  }
  const { action } = parseBody(request, agentActionRequest);
  const agent = await ownedAgent(request);
  if (actionSettings === undefined) {
    throw new HttpError(503, 'actions_unavailable', 'Lifecycle actions are not configured');
  }
  const { statusCode, body, headers } = await requestLifecycleAction(
    { userId: callerOf(request), agent, action, idempotencyKey },
    actionSettings,
  );
  return json(statusCode, body, headers);
}

const routes: Readonly<Record<string, (request: Request) => Promise<Response>>> = {
  'GET /agents': listAgents,
  'POST /agents': createDraftAgent,
  'GET /agents/{agentId}': getAgentView,
  'POST /agents/{agentId}/checkout': startCheckout,
  'POST /agents/{agentId}/actions': requestAction,
};

async function route(request: Request): Promise<Response> {
  const handle = routes[request.routeKey];
  try {
    if (handle === undefined) throw new HttpError(404, 'route_not_found', `No route ${request.routeKey}`);
    return await handle(request);
  } catch (error) {
    if (error instanceof HttpError) return errorResponse(error.statusCode, error.code, error.message);
    logger.error('Request failed', { routeKey: request.routeKey, error });
    return errorResponse(500, 'internal', 'Something went wrong; try again');
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Request helpers

function callerOf(request: Request): string {
  const sub = request.requestContext.authorizer?.jwt?.claims?.sub;
  if (typeof sub !== 'string' || sub === '') throw new HttpError(401, 'unauthorized', 'A valid access token is required');
  return sub;
}

function agentIdOf(request: Request): string {
  const agentId = agentIdSchema.safeParse(request.pathParameters?.agentId);
  // A malformed id cannot name an agent: the same answer as an unknown one.
  if (!agentId.success) throw agentNotFound();
  return agentId.data;
}

/** The agent named in the path when the caller owns it; 404 otherwise. */
async function ownedAgent(request: Request): Promise<AgentRecord> {
  const agent = await getAgent(agentIdOf(request));
  if (agent === undefined || agent.userId !== callerOf(request)) throw agentNotFound();
  return agent;
}

function agentNotFound(): HttpError {
  return new HttpError(404, 'agent_not_found', 'No such agent');
}

function parseBody<T extends z.ZodType>(request: Request, schema: T): z.infer<T> {
  let body: unknown;
  try {
    body = JSON.parse(utf8Body(request));
  } catch {
    throw new HttpError(400, 'invalid_json', 'The body must be a UTF-8 JSON object');
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new HttpError(400, 'invalid_request', z.prettifyError(parsed.error));
  return parsed.data;
}

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

export const handler = middy<Request, Response>()
  .use(injectLambdaContext(logger))
  .handler(route);
