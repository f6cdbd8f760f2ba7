/**
 * Drives the local stack from the outside, the way Stripe, the workflow and browsers do: HTTP on the gateway, signed
 * webhooks and callbacks, WebSocket dashboards. Nothing here reaches into the stack's internals.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { callbackWebhookId, signCallback } from '../../.github/scripts/callback.mjs';
import { agentView, type ServerMessage } from '../../lambdas/domain/schemas.ts';
import { checkoutCompletedEvent, sendStripeEvent } from '../../test/support/stripe-events.ts';
import type { StackInfo, StackProcess } from './stack.ts';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across the processes of one machine. */
export const now = (): number => performance.timeOrigin + performance.now();

export async function devToken(stack: StackInfo, userId: string): Promise<string> {
  const response = await fetch(`${stack.apiUrl}/dev/token`, { method: 'POST', body: JSON.stringify({ userId }) });
  if (!response.ok) throw new Error(`POST /dev/token: ${response.status}`);
  return ((await response.json()) as { token: string }).token;
}

export interface PaidAgent {
  readonly userId: string;
  readonly token: string;
  readonly agentId: string;
  readonly jobId: string;
}

/** Creates an agent through the API; `[manual]` in the name leaves its callbacks to the caller. */
export async function createAgent(stack: StackInfo, token: string, name: string): Promise<string> {
  const response = await fetch(`${stack.url}/agents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, region: 'fsn1' }),
  });
  if (response.status !== 201) throw new Error(`POST /agents: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { agentId: string }).agentId;
}

/** Posts `checkout.session.completed` for the agent, signed like Stripe; resolves with the HTTP status. */
export async function sendCheckoutWebhook(
  stack: StackInfo,
  agent: { agentId: string; userId: string },
): Promise<number> {
  return (await sendStripeEvent(stack, checkoutCompletedEvent({ ...agent, region: 'fsn1' }))).status;
}

export async function getAgent(stack: StackInfo, token: string, agentId: string) {
  const response = await fetch(`${stack.url}/agents/${agentId}`, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`GET /agents/${agentId}: ${response.status}`);
  return agentView.parse(await response.json());
}

/** Longest wait for paid jobs' executions to start (the execution-starter starts them from the table's stream). */
const EXECUTIONS_TIMEOUT_MS = 120_000;

/**
 * When the provisioning execution of each job started (epoch ms, in the order given), waiting until every one has: the
 * webhook answers after the job's write, and the execution-starter starts the execution from the stream later.
 */
export async function executionStarts(stack: StackProcess, jobIds: readonly (string | null)[]): Promise<number[]> {
  const executionArns = jobIds.map((jobId) => {
    if (jobId === null) throw new Error('A paid agent has no job');
    return `${stack.stateMachineArn.replace(':stateMachine:', ':execution:')}:${jobId}`;
  });
  const deadline = now() + EXECUTIONS_TIMEOUT_MS;
  for (;;) {
    const started = await stack.call('executionStarts', executionArns);
    const waiting = started.filter((at) => at === null).length;
    if (waiting === 0) return started as number[];
    if (now() > deadline)
      throw new Error(`${waiting} paid jobs' executions did not start within ${EXECUTIONS_TIMEOUT_MS} ms`);
    await sleep(50);
  }
}

/** A user, an agent named `name`, paid through the Stripe webhook: its job exists and its execution runs when this resolves. */
export async function paidAgent(stack: StackProcess, userId: string, name: string): Promise<PaidAgent> {
  const token = await devToken(stack, userId);
  const agentId = await createAgent(stack, token, name);
  const status = await sendCheckoutWebhook(stack, { agentId, userId });
  if (status !== 200) throw new Error(`Stripe webhook answered ${status}`);
  const { jobId } = await getAgent(stack, token, agentId);
  if (jobId === null) throw new Error(`Agent ${agentId} has no job after checkout`);
  await executionStarts(stack, [jobId]);
  return { userId, token, agentId, jobId };
}

export interface CallbackTiming {
  readonly status: number;
  readonly sentAt: number;
  readonly acceptedAt: number;
}

/** Posts one callback signed with the stack's secret, as the workflow does. */
export async function postCallback(stack: StackInfo, payload: Record<string, unknown>): Promise<CallbackTiming> {
  const rawBody = JSON.stringify(payload);
  const sentAt = now();
  // Where the stack's CallbackUrl output points the workflow: the HTTP API's own origin.
  const response = await fetch(`${stack.apiUrl}/callbacks/github`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...signCallback(stack.secrets.callbackSecret, callbackWebhookId(payload), rawBody, Date.now() / 1000),
    },
    body: rawBody,
  });
  await response.arrayBuffer();
  return { status: response.status, sentAt, acceptedAt: now() };
}

/** A dashboard's socket: calls `onMessage` with each server message and its arrival time. */
export class Dashboard {
  onMessage: (message: ServerMessage, at: number) => void = () => {};
  private snapshotWaiter: (() => void) | undefined;

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const at = now();
      const message = JSON.parse(data.toString()) as ServerMessage;
      if (message.type === 'snapshot') this.snapshotWaiter?.();
      this.onMessage(message, at);
    });
  }

  static async connect(wsUrl: string, token: string): Promise<Dashboard> {
    const socket = new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}`);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('unexpected-response', (_request, response) =>
        reject(new Error(`WebSocket refused: ${response.statusCode}`)),
      );
      socket.once('error', reject);
    });
    return new Dashboard(socket);
  }

  /** Subscribes and resolves once the snapshot arrived (the subscription is stored before the snapshot is read). */
  subscribe(agentId: string): Promise<void> {
    const snapshot = new Promise<void>((resolve) => (this.snapshotWaiter = resolve));
    this.socket.send(JSON.stringify({ action: 'subscribe', agentId }));
    return snapshot;
  }

  close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }
}

/** Runs `task` over `items` with at most `limit` in flight; results in input order. */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < items.length; index = next++)
      results[index] = await task(items[index] as T, index);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
