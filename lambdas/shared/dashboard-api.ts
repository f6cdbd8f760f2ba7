/**
 * What the dashboard's REST functions share (agents-api and checkout, behind the HTTP API's access-token authorizer):
 * the caller, the agent named in the path when the caller owns it, refusals with the contract's error body, and the
 * middy stack. The authorizer (http-authorizer) has verified the token; the caller is its `sub` and the role its
 * `cognito:groups` give (lambdas/domain/access.ts decides what each role may see and do). An agent the caller may not
 * see answers 404 like one that does not exist, so ids reveal nothing.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2WithLambdaAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { maySee, ROLES, type Caller } from '../domain/access.ts';
import { agentId as agentIdSchema } from '../domain/schemas.ts';
import type { CallerContext } from './auth.ts';
import { errorResponse } from './http.ts';
import { logger } from './logger.ts';
import { handlerMiddleware } from './middleware.ts';
import { getAgent, type AgentRecord } from './repository.ts';

export type DashboardRequest = APIGatewayProxyEventV2WithLambdaAuthorizer<CallerContext>;
export type DashboardResponse = APIGatewayProxyStructuredResultV2;

/** A refusal with the contract's error body; thrown by route code, answered by {@link dashboardApiHandler}. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Who calls, as the authorizer verified them; a role the authorizer did not set is the least one, a customer. */
export function callerOf(request: DashboardRequest): Caller {
  const context = request.requestContext.authorizer?.lambda;
  const userId = context?.userId;
  // Only reachable without the authorizer, i.e. a misconfigured route.
  if (typeof userId !== 'string' || userId === '')
    throw new HttpError(401, 'unauthorized', 'A valid access token is required');
  const role = ROLES.find((candidate) => candidate === context?.role) ?? 'customer';
  return { userId, role };
}

export function agentIdOf(request: DashboardRequest): string {
  const agentId = agentIdSchema.safeParse(request.pathParameters?.agentId);
  // A malformed id cannot name an agent: the same answer as an unknown one.
  if (!agentId.success) throw agentNotFound();
  return agentId.data;
}

/** The agent named in the path when the caller may see it (its owner, operators, support); 404 otherwise. */
export async function visibleAgent(request: DashboardRequest): Promise<AgentRecord> {
  const agent = await getAgent(agentIdOf(request));
  if (agent === undefined || !maySee(callerOf(request), agent)) throw agentNotFound();
  return agent;
}

/** Seen but not the caller's to change (support everywhere, or an operator paying for someone else's agent). */
export function forbidden(message: string): HttpError {
  return new HttpError(403, 'forbidden', message);
}

export function agentNotFound(): HttpError {
  return new HttpError(404, 'agent_not_found', 'No such agent');
}

export type Route = (request: DashboardRequest) => Promise<DashboardResponse>;

/** One route for a table of them: the request's route key picks the route; a key the table lacks answers 404. */
export function byRouteKey(routes: Readonly<Record<string, Route>>): Route {
  return async (request) => {
    const handle = routes[request.routeKey];
    if (handle === undefined) throw new HttpError(404, 'route_not_found', `No route ${request.routeKey}`);
    return handle(request);
  };
}

/** The Lambda handler of a dashboard function: an {@link HttpError} is answered as such, anything else as a logged 500. */
export function dashboardApiHandler(handle: Route) {
  return middy<DashboardRequest, DashboardResponse>()
    .use(handlerMiddleware())
    .handler(async (request) => {
      try {
        return await handle(request);
      } catch (error) {
        if (error instanceof HttpError) return errorResponse(error.statusCode, error.code, error.message);
        logger.error('Request failed', { routeKey: request.routeKey, error });
        return errorResponse(500, 'internal', 'Something went wrong; try again');
      }
    });
}
