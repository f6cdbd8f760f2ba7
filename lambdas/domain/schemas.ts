/**
 * zod schemas of every message in docs/CONTRACT.md: the single source for handlers, the local runtime and the dashboard.
 */
import { z } from 'zod';
import { AGENT_STATUSES, JOB_STATUSES } from './statuses.ts';
import { UI_STEP_KEYS, WORKFLOW_STEPS, type UiStepKey } from './steps.ts';

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const id = z.string().regex(ID_PATTERN, 'must be 1-64 letters, digits, "_" or "-"');
const shortText = (max: number) => z.string().min(1).max(max);

export const jobId = id;
export const agentId = id;

/** Hetzner regions (locations) an agent can run in. */
export const REGIONS = ['fsn1', 'nbg1', 'hel1', 'ash', 'hil', 'sin'] as const;
export const region = z.enum(REGIONS);
export type Region = z.infer<typeof region>;

// ---------------------------------------------------------------------------------------------------------------------
// Callbacks from the provisioning workflow (POST /callbacks/github)

/** `metadata` of a step: a small flat object of strings. */
const stepMetadata = z
  .record(z.string().regex(/^[a-z][a-z0-9_]{0,39}$/), z.string().max(200))
  .refine((value) => Object.keys(value).length <= 20, 'at most 20 metadata entries');

const ipAddress = z.union([z.ipv4(), z.ipv6()]);

const provisioningStatus = z.object({
  type: z.literal('status'),
  job_id: jobId,
  status: z.literal('provisioning'),
  workflow_run_id: shortText(64).regex(/^[0-9A-Za-z_-]+$/).optional(),
  workflow_run_url: z.url({ protocol: /^https?$/ }).max(500).optional(),
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
  z.object({ type: z.literal('step'), job_id: jobId, step: z.literal(step), metadata: stepMetadata.optional() });

export const callbackMessage = z.discriminatedUnion('type', [
  z.discriminatedUnion('status', [provisioningStatus, runningStatus, failedStatus]),
  z.discriminatedUnion('step', [
    vmCreatedStep,
    networkConfiguredStep,
    ansibleStep('ansible_started'),
    ansibleStep('ansible_complete'),
  ]),
  z.object({ type: z.literal('heartbeat'), job_id: jobId }),
]);
export type CallbackMessage = z.infer<typeof callbackMessage>;
export type StepCallback = Extract<CallbackMessage, { type: 'step' }>;
export type StatusCallback = Extract<CallbackMessage, { type: 'status' }>;

export const CALLBACK_IGNORED_REASONS = ['duplicate', 'stale', 'terminal'] as const;
export type CallbackIgnoredReason = (typeof CALLBACK_IGNORED_REASONS)[number];
export const callbackResponse = z.object({
  received: z.literal(true),
  ignored: z.enum(CALLBACK_IGNORED_REASONS).optional(),
});
export type CallbackResponse = z.infer<typeof callbackResponse>;

// Re-exported so the workflow step list has one home.
export { WORKFLOW_STEPS };

// ---------------------------------------------------------------------------------------------------------------------
// Agent views: the WebSocket snapshot/update and GET /agents/{agentId}

export const uiStep = z.object({
  key: z.enum(UI_STEP_KEYS as [UiStepKey, ...UiStepKey[]]),
  label: z.string(),
  status: z.enum(['pending', 'active', 'completed', 'error']),
  startedAt: z.iso.datetime().optional(),
  completedAt: z.iso.datetime().optional(),
  error: z.string().optional(),
  failedStep: z.string().optional(),
});

export const vmDetails = z.object({
  serverId: z.string().optional(),
  serverIp: z.string().optional(),
  tailscaleIp: z.string().optional(),
  tailscaleDeviceId: z.string().optional(),
});
export type VmDetails = z.infer<typeof vmDetails>;

/** The state of one agent as people see it: the fields shared by snapshot, update and the REST view. */
export const agentView = z.object({
  agentId,
  name: z.string(),
  region: z.string(),
  agentStatus: z.enum(AGENT_STATUSES),
  jobId: jobId.nullable(),
  seq: z.number().int().nonnegative(),
  status: z.enum(JOB_STATUSES).nullable(),
  currentStep: z.enum(UI_STEP_KEYS as [UiStepKey, ...UiStepKey[]]).nullable(),
  steps: z.array(uiStep),
  vm: vmDetails.optional(),
  error: z.string().optional(),
  failedStep: z.string().optional(),
  workflowRunUrl: z.string().optional(),
  lastHeartbeatAt: z.iso.datetime().optional(),
  paymentIssue: z.boolean().optional(),
  updatedAt: z.iso.datetime(),
});
export type AgentView = z.infer<typeof agentView>;

// ---------------------------------------------------------------------------------------------------------------------
// WebSocket messages

export const clientMessage = z.discriminatedUnion('action', [
  z.object({ action: z.literal('subscribe'), agentId, since: z.number().int().nonnegative().optional() }),
  z.object({ action: z.literal('unsubscribe'), agentId }),
  z.object({ action: z.literal('ping') }),
]);
export type ClientMessage = z.infer<typeof clientMessage>;

export const serverMessage = z.discriminatedUnion('type', [
  agentView.extend({ type: z.literal('snapshot') }),
  agentView.extend({ type: z.literal('update') }),
  z.object({ type: z.literal('heartbeat'), agentId, jobId, at: z.iso.datetime() }),
  z.object({ type: z.literal('pong') }),
  z.object({
    type: z.literal('error'),
    code: z.enum(['forbidden', 'not_found', 'bad_request', 'internal']),
    message: z.string().optional(),
    agentId: agentId.optional(),
  }),
]);
export type ServerMessage = z.infer<typeof serverMessage>;
export type UpdateMessage = Extract<ServerMessage, { type: 'update' }>;

// ---------------------------------------------------------------------------------------------------------------------
// REST bodies

export const createAgentRequest = z.object({
  name: z.string().trim().min(1).max(80),
  region,
});
export type CreateAgentRequest = z.infer<typeof createAgentRequest>;

export const LIFECYCLE_ACTIONS = ['retry', 'stop', 'start', 'destroy'] as const;
export const agentActionRequest = z.object({ action: z.enum(LIFECYCLE_ACTIONS) });
export type AgentActionRequest = z.infer<typeof agentActionRequest>;

export const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export type ErrorBody = z.infer<typeof errorBody>;

// ---------------------------------------------------------------------------------------------------------------------
// Stripe: the metadata a checkout session carries (set by POST /agents/{agentId}/checkout)

export const checkoutMetadata = z.object({ agentId, userId: id, region });
export type CheckoutMetadata = z.infer<typeof checkoutMetadata>;

// ---------------------------------------------------------------------------------------------------------------------
// Step Functions: the provisioning execution's input

export const provisionTimeouts = z.object({
  startSeconds: z.number().int().positive(),
  heartbeatSeconds: z.number().int().positive(),
  completionSeconds: z.number().int().positive(),
});
export const provisionInput = z.object({
  jobId,
  agentId,
  userId: id,
  region,
  timeouts: provisionTimeouts,
});
export type ProvisionInput = z.infer<typeof provisionInput>;
