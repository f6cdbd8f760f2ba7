/**
 * The routes of the real synthesized `AgentPipeline` stack, as the local gateway reads them: every route of the
 * contract resolves to the function whose source file implements it, with the authorizer AWS would apply.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { routesFromTemplate, startGateway, type Gateway } from '../../../local/gateway/index.ts';
import type { HttpAuthorizerEvent } from '../../../local/gateway/http-events.ts';
import { functionEntries } from '../../../local/template.ts';

const template = inject('template');
const routes = routesFromTemplate(template);
const entries = functionEntries(template);
const handlerNameOf = (functionLogicalId: string) => entries[functionLogicalId]?.name ?? 'missing';

describe('routes of the synthesized stack', () => {
  it('serves every HTTP route of the contract with its handler and authorization', () => {
    const table = routes.http.map((route) => [
      route.routeKey,
      handlerNameOf(route.target.functionLogicalId),
      route.authorizer.kind,
    ]);
    expect(table).toEqual(
      expect.arrayContaining([
        ['POST /webhooks/stripe', 'stripe-webhook', 'NONE'],
        ['POST /callbacks/github', 'github-callback', 'NONE'],
        ['GET /agents', 'agents-api', 'LAMBDA'],
        ['POST /agents', 'agents-api', 'LAMBDA'],
        ['GET /agents/{agentId}', 'agents-api', 'LAMBDA'],
        ['GET /agents/{agentId}/logs', 'agents-api', 'LAMBDA'],
        ['GET /agents/{agentId}/usual-durations', 'agents-api', 'LAMBDA'],
        ['DELETE /agents/{agentId}', 'checkout', 'LAMBDA'],
        ['POST /agents/{agentId}/checkout', 'checkout', 'LAMBDA'],
        ['POST /agents/{agentId}/actions', 'agents-api', 'LAMBDA'],
        ['GET /operations/jobs', 'operations-api', 'LAMBDA'],
        ['GET /operations/health', 'operations-api', 'LAMBDA'],
        ['GET /operations/agents/{agentId}/history', 'operations-api', 'LAMBDA'],
      ]),
    );
    expect(table).toHaveLength(13);
    const authorizers = routes.http.flatMap((route) => (route.authorizer.kind === 'LAMBDA' ? [route.authorizer] : []));
    expect(new Set(authorizers.map((authorizer) => handlerNameOf(authorizer.target.functionLogicalId)))).toEqual(
      new Set(['http-authorizer']),
    );
    expect(authorizers[0]?.identitySource).toEqual(['$request.header.Authorization']);
  });

  it('serves the WebSocket routes of the contract, $connect behind the token authorizer', () => {
    const webSocket = routes.webSocket;
    expect(webSocket?.routeSelectionExpression).toBe('$request.body.action');
    const table = webSocket?.routes.map((route) => [route.routeKey, handlerNameOf(route.target.functionLogicalId)]);
    expect(table).toEqual(
      expect.arrayContaining(
        ['$connect', '$disconnect', '$default', 'subscribe', 'unsubscribe', 'ping'].map((key) => [key, 'ws-handler']),
      ),
    );
    const connect = webSocket?.routes.find((route) => route.routeKey === '$connect');
    expect(connect?.authorizer.kind).toBe('REQUEST');
    if (connect?.authorizer.kind !== 'REQUEST') return;
    expect(handlerNameOf(connect.authorizer.target.functionLogicalId)).toBe('ws-authorizer');
    expect(connect.authorizer.identitySource).toEqual(['route.request.querystring.token']);
  });
});

describe('gateway on the synthesized routes', () => {
  let gateway: Gateway;
  const invoked: string[] = [];

  beforeAll(async () => {
    gateway = await startGateway({
      port: 0,
      routes,
      invoke: async (functionLogicalId, event) => {
        const name = handlerNameOf(functionLogicalId);
        invoked.push(name);
        if (name === 'http-authorizer')
          return { isAuthorized: (event as HttpAuthorizerEvent).identitySource[0] === 'Bearer good' };
        return { statusCode: 200, body: '{}' };
      },
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    });
  });

  afterAll(async () => {
    await gateway?.stop();
  });

  it('guards the dashboard routes with http-authorizer and leaves the webhooks open', async () => {
    expect((await fetch(`${gateway.url}/agents`)).status).toBe(401);
    expect((await fetch(`${gateway.url}/agents`, { headers: { Authorization: 'Bearer bad' } })).status).toBe(403);
    expect((await fetch(`${gateway.url}/agents`, { headers: { Authorization: 'Bearer good' } })).status).toBe(200);
    expect((await fetch(`${gateway.url}/webhooks/stripe`, { method: 'POST', body: '{}' })).status).toBe(200);
    expect(invoked).toEqual(['http-authorizer', 'http-authorizer', 'agents-api', 'stripe-webhook']);
  });
});
