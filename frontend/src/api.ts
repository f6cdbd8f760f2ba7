/**
 * The dashboard's calls to the HTTP API (docs/CONTRACT.md). Every response is validated with the shared zod schemas;
 * every error answer becomes an ApiError carrying the contract's `{ error: { code, message } }`.
 */
import {
  agentView,
  errorBody,
  logsPage,
  usualDurations,
  type LogsPage,
  type UsualDurations,
  type AgentActionRequest,
  type AgentView,
  type CreateAgentRequest,
} from '../../lambdas/domain/schemas.ts';
import { AGENT_STATUSES } from '../../lambdas/domain/statuses.ts';
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
const agentSummary = z.pick(agentView, {
  agentId: true,
  name: true,
  region: true,
  agentStatus: true,
  paymentIssue: true,
  subscriptionEndedAt: true,
});
export type AgentSummary = z.infer<typeof agentSummary>;

const agentList = z.object({ agents: z.array(agentSummary) });
const createdAgent = z.object({ agentId: z.string() });
const checkoutSession = z.object({ url: z.url({ protocol: /^https?$/ }) });

// The operations console's reads (GET /operations/...): only what the console shows is checked.
const jobSummary = z.object({
  jobId: z.string(),
  agentId: z.string(),
  agent: z.optional(
    z.object({ name: z.string(), agentStatus: z.enum(AGENT_STATUSES), actions: z.array(z.enum(['retry', 'cancel'])) }),
  ),
  userId: z.string(),
  region: z.string(),
  status: z.string(),
  currentStep: z.nullable(z.string()),
  failedStep: z.optional(z.string()),
  error: z.optional(z.string()),
  steps: z.array(z.object({ key: z.string(), status: z.string(), durationMs: z.optional(z.number()) })),
  stepsDone: z.number(),
  workflowRunUrl: z.optional(z.string()),
  durationMs: z.number(),
  createdAt: z.string(),
});
export type JobSummary = z.infer<typeof jobSummary>;
const jobsPage = z.object({ jobs: z.array(jobSummary), cursor: z.optional(z.string()) });
export type JobsPage = z.infer<typeof jobsPage>;
const windowHealth = z.object({
  started: z.number(),
  succeeded: z.number(),
  failed: z.number(),
  live: z.number(),
  failuresByStep: z.array(z.object({ step: z.string(), count: z.number() })),
  stepDurations: z.array(
    z.object({ step: z.string(), count: z.number(), p50Ms: z.optional(z.number()), p95Ms: z.optional(z.number()) }),
  ),
});
export type WindowHealth = z.infer<typeof windowHealth>;
const fleetHealth = z.object({
  at: z.string(),
  lastHour: windowHealth,
  last24h: windowHealth,
  stuck: z.array(
    z.object({
      agentId: z.string(),
      agentStatus: z.string(),
      jobId: z.optional(z.string()),
      currentStep: z.nullable(z.string()),
      reason: z.string(),
      since: z.string(),
    }),
  ),
});
export type FleetHealth = z.infer<typeof fleetHealth>;
const auditTrail = z.object({
  agentId: z.string(),
  entries: z.array(
    z.object({
      seq: z.number(),
      event: z.string(),
      actor: z.string(),
      reason: z.optional(z.string()),
      at: z.string(),
      agentStatus: z.string(),
    }),
  ),
});
export type AuditTrail = z.infer<typeof auditTrail>;

/** The console's filters, as query parameters (absent: any). */
export interface JobFilters {
  readonly status?: string;
  readonly failedStep?: string;
  readonly region?: string;
  readonly userId?: string;
}

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

  /** Deletes an unpaid draft (its open checkout is closed first, so it can no longer be paid). */
  async deleteDraft(agentId: string): Promise<void> {
    await this.json('DELETE', `/agents/${encodeURIComponent(agentId)}`);
  }

  /**
   * Requests a lifecycle action. `idempotencyKey` makes a repeated click (or a retried request) act once; `reason` is
   * an operator's, kept on the agent's history.
   */
  async requestAction(
    agentId: string,
    action: AgentActionRequest['action'],
    idempotencyKey: string,
    reason?: string,
  ): Promise<void> {
    await this.json(
      'POST',
      `/agents/${encodeURIComponent(agentId)}/actions`,
      { action, ...(reason === undefined ? {} : { reason }) },
      {
        'idempotency-key': idempotencyKey,
      },
    );
  }

  /** One page of every job, newest first (operators and support). */
  async operationsJobs(filters: JobFilters, cursor?: string): Promise<JobsPage> {
    const query = new URLSearchParams(
      Object.entries(filters).filter(([, value]) => value !== undefined && value !== ''),
    );
    if (cursor !== undefined) query.set('cursor', cursor);
    return jobsPage.parse(await this.json('GET', `/operations/jobs?${query.toString()}`));
  }

  /** The fleet's health, last hour and last 24 h (operators and support). */
  async operationsHealth(): Promise<FleetHealth> {
    return fleetHealth.parse(await this.json('GET', '/operations/health'));
  }

  /** Who did what to an agent, when and why, newest first (operators and support). */
  async auditTrail(agentId: string): Promise<AuditTrail> {
    return auditTrail.parse(await this.json('GET', `/operations/agents/${encodeURIComponent(agentId)}/history`));
  }

  /** The log batches of the agent's current job (or of `jobId`, an earlier attempt) after batch `after`. */
  async logs(agentId: string, after: number, jobId?: string): Promise<LogsPage> {
    const query = new URLSearchParams({ after: String(after), ...(jobId === undefined ? {} : { jobId }) });
    return logsPage.parse(await this.json('GET', `/agents/${encodeURIComponent(agentId)}/logs?${query.toString()}`));
  }

  /** How long each step usually takes in the agent's region (the fleet's last day). */
  async usualDurations(agentId: string): Promise<UsualDurations> {
    return usualDurations.parse(await this.json('GET', `/agents/${encodeURIComponent(agentId)}/usual-durations`));
  }

  /** Reads one agent, sending `If-None-Match` so an unchanged agent costs a 304. */
  async getAgent(agentId: string, etag?: string): Promise<ConditionalRead> {
    const response = await this.request('GET', `/agents/${encodeURIComponent(agentId)}`, undefined, {
      ...(etag === undefined ? {} : { 'if-none-match': etag }),
    });
    if (response.status === 304) return { modified: false };
    return {
      modified: true,
      view: agentView.parse(await response.json()),
      etag: response.headers.get('etag') ?? undefined,
    };
  }

  private async json(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<unknown> {
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
