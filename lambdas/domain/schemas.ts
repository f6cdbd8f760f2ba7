/**
 * zod schemas of every message in docs/CONTRACT.md: the single source for handlers, the local runtime and the dashboard.
 */
import { AGENT_ACTIONS, LIFECYCLE_ACTIONS } from './lifecycle.ts';
import { LOG_STEPS } from './log-lines.ts';
import { REGIONS } from './regions.ts';
import { BILLING_STATES } from './billing-summary.ts';
import { AGENT_STATUSES, JOB_STATUSES } from './statuses.ts';
import { UI_STEP_KEYS, WORKFLOW_STEPS, type UiStepKey } from './steps.ts';
import * as z from './zod-mini.ts';

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const id = z.string().check(z.regex(ID_PATTERN, 'must be 1-64 letters, digits, "_" or "-"'));
const shortText = (max: number) => z.string().check(z.minLength(1), z.maxLength(max));

export const jobId = id;
export const agentId = id;

/** Hetzner regions (locations) an agent can run in: the catalogue in .github/regions.json. */
export { REGIONS };
export const region = z.enum(REGIONS);
export type Region = z.infer<typeof region>;

// ---------------------------------------------------------------------------------------------------------------------
// Callbacks from the provisioning workflow (POST /callbacks/github)

/** `metadata` of a step: a small flat object of strings. */
const stepMetadata = z
  .record(z.string().check(z.regex(/^[a-z][a-z0-9_]{0,39}$/)), z.string().check(z.maxLength(200)))
  .check(z.refine((value) => Object.keys(value).length <= 20, 'at most 20 metadata entries'));

const ipAddress = z.union([z.ipv4(), z.ipv6()]);

const provisioningStatus = z.object({
  type: z.literal('status'),
  job_id: jobId,
  status: z.literal('provisioning'),
  workflow_run_id: z.optional(shortText(64).check(z.regex(/^[0-9A-Za-z_-]+$/))),
  workflow_run_url: z.optional(z.url({ protocol: /^https?$/ }).check(z.maxLength(500))),
});
const runningStatus = z.object({
  type: z.literal('status'),
  job_id: jobId,
  status: z.literal('running'),
  server_id: shortText(64),
  server_ip: ipAddress,
  tailscale_ip: ipAddress,
});
const failedStatus = z.object({
  type: z.literal('status'),
  job_id: jobId,
  status: z.literal('failed'),
  error: shortText(2000),
  failed_step: shortText(100),
});

const vmCreatedStep = z.object({
  type: z.literal('step'),
  job_id: jobId,
  step: z.literal('vm_created'),
  server_id: shortText(64),
  server_ip: ipAddress,
});
const networkConfiguredStep = z.object({
  type: z.literal('step'),
  job_id: jobId,
  step: z.literal('network_configured'),
  tailscale_ip: ipAddress,
  tailscale_device_id: shortText(64),
});
const ansibleStep = (step: 'ansible_started' | 'ansible_complete') =>
  z.object({ type: z.literal('step'), job_id: jobId, step: z.literal(step), metadata: z.optional(stepMetadata) });

/** One output line of the workflow; its length is bounded by `batchOverLimit` (413, not 400: log-lines.ts). */
export const logLine = z.object({ at: z.iso.datetime(), text: z.string() });
const count = z.number().check(z.int(), z.nonnegative());
/** What the sender could not send, past the job's bounds: said once, in the job's last batch. */
export const logCut = z.object({ lines: count, bytes: count });
/** A batch's number: 1, 2, ... in the order the workflow sent them (its `webhook-id` is `<job_id>:logs:<batch>`). */
export const logBatchNumber = z.number().check(z.int(), z.positive(), z.lte(1_000_000));

const logsCallback = z
  .object({
    type: z.literal('logs'),
    job_id: jobId,
    batch: logBatchNumber,
    step: z.enum(LOG_STEPS),
    lines: z.array(logLine),
    cut: z.optional(logCut),
  })
  .check(z.refine((batch) => batch.lines.length > 0 || batch.cut !== undefined, 'a batch holds lines or a cut'));

export const callbackMessage = z.discriminatedUnion('type', [
  z.discriminatedUnion('status', [provisioningStatus, runningStatus, failedStatus]),
  z.discriminatedUnion('step', [
    vmCreatedStep,
    networkConfiguredStep,
    ansibleStep('ansible_started'),
    ansibleStep('ansible_complete'),
  ]),
  z.object({ type: z.literal('heartbeat'), job_id: jobId }),
  logsCallback,
]);
export type CallbackMessage = z.infer<typeof callbackMessage>;
export type LogsCallback = Extract<CallbackMessage, { type: 'logs' }>;
/** Every callback but log lines: the reports that move a job (status, step, heartbeat). */
export type ReportCallback = Exclude<CallbackMessage, LogsCallback>;
export type StepCallback = Extract<CallbackMessage, { type: 'step' }>;
export type StatusCallback = Extract<CallbackMessage, { type: 'status' }>;

export const CALLBACK_IGNORED_REASONS = ['duplicate', 'stale', 'terminal'] as const;
export type CallbackIgnoredReason = (typeof CALLBACK_IGNORED_REASONS)[number];
export const callbackResponse = z.object({
  received: z.literal(true),
  ignored: z.optional(z.enum(CALLBACK_IGNORED_REASONS)),
});
export type CallbackResponse = z.infer<typeof callbackResponse>;

// Re-exported so the workflow step and action lists have one home each.
export { AGENT_ACTIONS, LIFECYCLE_ACTIONS, WORKFLOW_STEPS };

// ---------------------------------------------------------------------------------------------------------------------
// Agent views: the WebSocket snapshot/update and GET /agents/{agentId}

export const uiStep = z.object({
  key: z.enum(UI_STEP_KEYS as [UiStepKey, ...UiStepKey[]]),
  label: z.string(),
  status: z.enum(['pending', 'active', 'completed', 'error']),
  startedAt: z.optional(z.iso.datetime()),
  completedAt: z.optional(z.iso.datetime()),
  error: z.optional(z.string()),
  failedStep: z.optional(z.string()),
});

export const vmDetails = z.object({
  serverId: z.optional(z.string()),
  serverIp: z.optional(z.string()),
  tailscaleIp: z.optional(z.string()),
  tailscaleDeviceId: z.optional(z.string()),
});
export type VmDetails = z.infer<typeof vmDetails>;

/** A stop, start or destroy that failed for good: kept on the agent until the next accepted action. */
export const actionError = z.object({
  action: z.enum(['stop', 'start', 'destroy']),
  /** Short and secret-free: shown to the owner as is. */
  message: z.string(),
  at: z.iso.datetime(),
});
export type ActionError = z.infer<typeof actionError>;

/**
 * Why an agent's subscription does not pay for it to run now (I8, lambdas/domain/billing.ts): Stripe marked it
 * `unpaid`, it is `paused`, or Stripe has given up retrying a failed payment (`retries-exhausted`).
 */
export const BILLING_HOLDS = ['unpaid', 'paused', 'retries-exhausted'] as const;
export type BillingHold = (typeof BILLING_HOLDS)[number];

/** The state of one agent as people see it: the fields shared by snapshot, update and the REST view. */
export const agentView = z.object({
  agentId,
  name: z.string(),
  region: z.string(),
  agentStatus: z.enum(AGENT_STATUSES),
  jobId: z.nullable(jobId),
  seq: z.number().check(z.int(), z.nonnegative()),
  status: z.nullable(z.enum(JOB_STATUSES)),
  currentStep: z.nullable(z.enum(UI_STEP_KEYS as [UiStepKey, ...UiStepKey[]])),
  steps: z.array(uiStep),
  vm: z.optional(vmDetails),
  error: z.optional(z.string()),
  failedStep: z.optional(z.string()),
  workflowRunUrl: z.optional(z.string()),
  lastHeartbeatAt: z.optional(z.iso.datetime()),
  paymentIssue: z.optional(z.boolean()),
  actionError: z.optional(actionError),
  /** The subscription ended before the agent could be destroyed: it will be removed, and is never provisioned again. */
  subscriptionEndedAt: z.optional(z.iso.datetime()),
  /** A failed agent not retried by then is destroyed and its subscription cancelled (I1). */
  failedExpiresAt: z.optional(z.iso.datetime()),
  /** While its job is live: the timeouts its execution runs with, so the page says when it is stuck (stuck.ts). */
  timeouts: z.optional(
    z.object({
      startSeconds: z.number().check(z.int(), z.positive()),
      heartbeatSeconds: z.number().check(z.int(), z.positive()),
      completionSeconds: z.number().check(z.int(), z.positive()),
    }),
  ),
  /** The subscription does not pay for the agent to run now: it is suspended (stopped) and may not start (I8). */
  billingHold: z.optional(z.enum(BILLING_HOLDS)),
  /** What the owner is billed for the agent (lambdas/domain/billing-summary.ts). */
  billing: z.optional(
    z.object({
      state: z.enum(BILLING_STATES),
      text: z.string(),
      nextChargeAt: z.optional(z.iso.datetime()),
    }),
  ),
  updatedAt: z.iso.datetime(),
});
export type AgentView = z.infer<typeof agentView>;

/** A batch of log lines as people receive it (WebSocket `logs`, `GET /agents/{agentId}/logs`): masked, in order. */
export const logBatch = z.object({
  agentId,
  jobId,
  batch: logBatchNumber,
  /** The workflow's step name, and the UI step its lines are shown under. */
  step: z.enum(LOG_STEPS),
  uiStep: z.enum(UI_STEP_KEYS as [UiStepKey, ...UiStepKey[]]),
  lines: z.array(logLine),
  cut: z.optional(logCut),
});
export type LogBatch = z.infer<typeof logBatch>;

/** The query of `GET /agents/{agentId}/logs`: `after` a batch number (0: from the start), `jobId` an earlier attempt. */
export const logsQuery = z.object({
  after: z._default(z.coerce.number().check(z.int(), z.nonnegative(), z.lte(1_000_000)), 0),
  jobId: z.optional(jobId),
});

/** `GET /agents/{agentId}/logs?after=<batch>[&jobId=]`: the job's batches after `after`, oldest first. */
export const logsPage = z.object({
  agentId,
  /** The job the batches are of: the one asked for, else the agent's current job (null: never paid). */
  jobId: z.nullable(jobId),
  batches: z.array(logBatch),
  /** Where to go on from: the last batch returned, else `after`. */
  cursor: z.number().check(z.int(), z.nonnegative()),
  /** More batches follow the cursor already: ask again at once. */
  more: z.boolean(),
});
export type LogsPage = z.infer<typeof logsPage>;

/** `GET /agents/{agentId}/usual-durations`: how long each step took the fleet in the agent's region lately. */
export const usualDurations = z.object({
  agentId,
  region: z.string(),
  /** How far back the jobs counted go. */
  windowHours: z.number(),
  steps: z.array(
    z.object({
      step: z.enum(UI_STEP_KEYS as [UiStepKey, ...UiStepKey[]]),
      count: z.number().check(z.int(), z.nonnegative()),
      p50Ms: z.optional(z.number()),
      p95Ms: z.optional(z.number()),
    }),
  ),
});
export type UsualDurations = z.infer<typeof usualDurations>;

// ---------------------------------------------------------------------------------------------------------------------
// WebSocket messages

export const clientMessage = z.discriminatedUnion('action', [
  z.object({ action: z.literal('subscribe'), agentId, since: z.optional(z.number().check(z.int(), z.nonnegative())) }),
  z.object({ action: z.literal('unsubscribe'), agentId }),
  z.object({ action: z.literal('ping') }),
  // Operators and support: a summary of every agent's changes (the operations console).
  z.object({ action: z.literal('subscribeFleet') }),
  z.object({ action: z.literal('unsubscribeFleet') }),
]);
export type ClientMessage = z.infer<typeof clientMessage>;

/** What the fleet channel says of one change: the agent's state in a line, never its steps, machine or errors. */
export const fleetSummary = z.object({
  agentId,
  name: z.string(),
  region: z.string(),
  agentStatus: z.enum(AGENT_STATUSES),
  jobId: z.nullable(jobId),
  status: z.nullable(z.enum(JOB_STATUSES)),
  currentStep: z.nullable(z.enum(UI_STEP_KEYS as [UiStepKey, ...UiStepKey[]])),
  failedStep: z.optional(z.string()),
  seq: z.number().check(z.int(), z.nonnegative()),
  /** What caused the change (`created`, `vm_created`, `failed`, `retry-requested`, ...). */
  event: z.string(),
  updatedAt: z.iso.datetime(),
});
export type FleetSummary = z.infer<typeof fleetSummary>;

export const serverMessage = z.discriminatedUnion('type', [
  z.extend(fleetSummary, { type: z.literal('fleet') }),
  z.object({ type: z.literal('fleet-subscribed') }),
  z.extend(agentView, { type: z.literal('snapshot') }),
  z.extend(agentView, { type: z.literal('update') }),
  z.object({ type: z.literal('heartbeat'), agentId, jobId, at: z.iso.datetime() }),
  z.extend(logBatch, { type: z.literal('logs') }),
  z.object({ type: z.literal('pong') }),
  z.object({
    type: z.literal('error'),
    code: z.enum(['forbidden', 'not_found', 'bad_request', 'internal']),
    message: z.optional(z.string()),
    agentId: z.optional(agentId),
  }),
]);
export type ServerMessage = z.infer<typeof serverMessage>;
export type UpdateMessage = Extract<ServerMessage, { type: 'update' }>;
export type FleetMessage = Extract<ServerMessage, { type: 'fleet' }>;
export type LogsMessage = Extract<ServerMessage, { type: 'logs' }>;

// ---------------------------------------------------------------------------------------------------------------------
// REST bodies

/** The longest agent name, counted as the form's counter counts it (after trimming). */
export const AGENT_NAME_MAX_LENGTH = 80;

/**
 * What an agent name may not hold: control characters (C0, C1: line breaks, tabs, NUL...), line and paragraph
 * separators, and the bidirectional controls (marks, embeddings, overrides, isolates) that make a name display as
 * something else ("line2\u202Eevil" shows as "line2live").
 */
const UNPRINTABLE_IN_NAME = /[\p{Cc}\u2028\u2029\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;

/** True when `name` holds a character {@link UNPRINTABLE_IN_NAME} refuses. */
export function hasUnprintableCharacter(name: string): boolean {
  return UNPRINTABLE_IN_NAME.test(name);
}

/** An agent's name, as the form and the API both check it (messages in words: domain/validation.ts). */
export const agentName = z.string().check(
  z.trim(),
  z.minLength(1, 'Enter a name.'),
  z.maxLength(AGENT_NAME_MAX_LENGTH, `Use at most ${AGENT_NAME_MAX_LENGTH} characters.`),
  z.refine(
    (name) => !hasUnprintableCharacter(name),
    'Use printable characters only: no line breaks, control or text-direction characters.',
  ),
);

export const createAgentRequest = z.object({ name: agentName, region });
export type CreateAgentRequest = z.infer<typeof createAgentRequest>;

/** Why an operator acts on an agent: kept on the agent's history with who and when. */
export const actionReason = z.string().check(z.trim(), z.minLength(3), z.maxLength(500));
export const agentActionRequest = z.object({ action: z.enum(AGENT_ACTIONS), reason: z.optional(actionReason) });
export type AgentActionRequest = z.infer<typeof agentActionRequest>;

export const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export type ErrorBody = z.infer<typeof errorBody>;

// ---------------------------------------------------------------------------------------------------------------------
// Stripe: the metadata a checkout session carries (set by POST /agents/{agentId}/checkout)

export const checkoutMetadata = z.object({ agentId, userId: id, region });
export type CheckoutMetadata = z.infer<typeof checkoutMetadata>;

// ---------------------------------------------------------------------------------------------------------------------
// Step Functions: the provisioning execution's input

export const provisionTimeouts = agentView.shape.timeouts.def.innerType;
export type ProvisionTimeouts = z.infer<typeof provisionTimeouts>;
export const provisionInput = z.object({
  jobId,
  agentId,
  userId: id,
  region,
  timeouts: provisionTimeouts,
});
export type ProvisionInput = z.infer<typeof provisionInput>;
