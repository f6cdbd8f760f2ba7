/**
 * The dashboard's calls to the HTTP API (docs/CONTRACT.md). Every response is validated with the shared zod schemas;
 * every error answer becomes an ApiError carrying the contract's `{ error: { code, message } }`.
 */
import {
  agentView,
  errorBody,
  type AgentActionRequest,
  type AgentView,
  type CreateAgentRequest,
} from '../../lambdas/domain/schemas.ts';
import * as z from '../../lambdas/domain/zod-mini.ts';

/** An error answer of the API. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** What the agent list shows of each agent. */
const agentSummary = z.pick(agentView, { agentId: true, name: true, region: true, agentStatus: true, paymentIssue: true });
export type AgentSummary = z.infer<typeof agentSummary>;

const agentList = z.object({ agents: z.array(agentSummary) });
const createdAgent = z.object({ agentId: z.string() });
const checkoutSession = z.object({ url: z.url({ protocol: /^https?$/ }) });

/** The result of a conditional read: the agent, or "not modified since `etag`". */
export type ConditionalRead = { modified: true; view: AgentView; etag: string | undefined } | { modified: false };

export class ApiClient {
  constructor(
    private readonly apiUrl: string,
    /** The current access token; read on every call so a refreshed token is used at once. */
    private readonly token: () => string | undefined,
  ) {}

  /** The caller's agents. */
  async listAgents(): Promise<AgentSummary[]> {
    return agentList.parse(await this.json('GET', '/agents')).agents;
  }

  /** Creates an agent in `draft`; returns its id. */
  async createAgent(request: CreateAgentRequest): Promise<string> {
    return createdAgent.parse(await this.json('POST', '/agents', request)).agentId;
  }

  /** The URL of the checkout page that pays for (and so starts) the agent. */
  async checkout(agentId: string): Promise<string> {
    return checkoutSession.parse(await this.json('POST', `/agents/${encodeURIComponent(agentId)}/checkout`)).url;
  }

  /** Requests a lifecycle action. `idempotencyKey` makes a repeated click (or a retried request) act once. */
  async requestAction(agentId: string, action: AgentActionRequest['action'], idempotencyKey: string): Promise<void> {
    await this.json('POST', `/agents/${encodeURIComponent(agentId)}/actions`, { action }, {
      'idempotency-key': idempotencyKey,
    });
  }

  /** Reads one agent, sending `If-None-Match` so an unchanged agent costs a 304. */
  async getAgent(agentId: string, etag?: string): Promise<ConditionalRead> {
    const response = await this.request('GET', `/agents/${encodeURIComponent(agentId)}`, undefined, {
      ...(etag === undefined ? {} : { 'if-none-match': etag }),
    });
    if (response.status === 304) return { modified: false };
    return { modified: true, view: agentView.parse(await response.json()), etag: response.headers.get('etag') ?? undefined };
  }

  private async json(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
    const response = await this.request(method, path, body, headers);
    return response.status === 204 ? undefined : response.json();
  }

  private async request(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
  ): Promise<Response> {
    const token = this.token();
    const response = await fetch(`${this.apiUrl}${path}`, {
      method,
      headers: {
        ...headers,
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (response.ok || response.status === 304) return response;
    const error = errorBody.safeParse(await response.json().catch(() => undefined));
    throw error.success
      ? new ApiError(response.status, error.data.error.code, error.data.error.message)
      : new ApiError(response.status, 'http_error', `The server answered ${response.status}`);
  }
}
