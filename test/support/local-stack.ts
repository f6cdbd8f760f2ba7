/**
 * Helpers for suites that drive the whole local runtime (`local/start.ts`) from the outside, the way the dashboard,
 * Stripe and people do: real HTTP, real WebSocket clients, signed webhooks. Two ways to run the stack:
 *
 * - in the test process (`startTestStack`): on the run's shared DynamoDB Local, with a table prefix of its own;
 * - as `npm start` would (`spawnLocalStack`): a child `tsx local/start.ts` with its own data directory and Java process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, inject, vi } from 'vitest';
import WebSocket from 'ws';
import { agentView, type AgentView, type ServerMessage } from '../../lambdas/domain/schemas.ts';
import { STRIPE_FAKE_SECRET_KEY } from '../../local/fakes/stripe.ts';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../local/start.ts';

const PROJECT_ROOT = resolve(import.meta.dirname, '../..');

/** Starts the local stack in this process on the run's DynamoDB Local: random port, in memory, quiet, fast runner. */
export function startTestStack({ testHooks, ...options }: LocalStackOptions = {}): Promise<LocalStack> {
  return startLocalStack({
    port: 0,
    dataDir: null,
    dynamoEndpoint: inject('dynamoEndpoint'),
    template: inject('template'),
    tablePrefix: `stack-${randomBytes(4).toString('hex')}-`,
    runnerStepMs: 50,
    runnerHeartbeatMs: 200,
    verbose: false,
    ...options,
    // The ASL asks GitHub again a minute after a run was in progress; its bound still counts the minutes.
    testHooks: { waitTimeOverrides: { WaitForRun: 100 }, ...testHooks },
  });
}

/**
 * An HTTP client acting as one dev user the way the dashboard does: it reads the dashboard's `/config.json`, takes a
 * token from the issuer it names (`POST /dev/token`) and calls the API where it says (`apiUrl`, the distribution).
 */
export class ApiClient {
  private constructor(
    /** The API's base URL from `config.json`. */
    readonly url: string,
    readonly userId: string,
    readonly token: string,
  ) {}

  /** Signs in as `userId` on the dashboard at `dashboardUrl`, a member of `groups` (`operators`, `support`) if given. */
  static async signIn(dashboardUrl: string, userId: string, groups: readonly string[] = []): Promise<ApiClient> {
    const config = await fetch(`${dashboardUrl}/config.json`);
    if (config.status !== 200) throw new Error(`GET ${dashboardUrl}/config.json answered ${config.status}`);
    const { apiUrl, auth } = (await config.json()) as { apiUrl: string; auth: { issuer: string } };
    const response = await fetch(`${auth.issuer}/dev/token`, {
      method: 'POST',
      body: JSON.stringify({ userId, groups }),
    });
    if (response.status !== 200) throw new Error(`POST /dev/token answered ${response.status}`);
    const { token } = (await response.json()) as { token: string };
    return new ApiClient(apiUrl, userId, token);
  }

  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json', ...init.headers },
    });
  }

  /** `POST /agents`: a draft agent. */
  async createAgent(name: string, region = 'fsn1'): Promise<AgentView> {
    const response = await this.fetch('/agents', { method: 'POST', body: JSON.stringify({ name, region }) });
    if (response.status !== 201) throw new Error(`POST /agents answered ${response.status}: ${await response.text()}`);
    return agentView.parse(await response.json());
  }

  /** `GET /agents/{agentId}`. */
  async agent(agentId: string): Promise<AgentView> {
    const response = await this.fetch(`/agents/${agentId}`);
    if (response.status !== 200) throw new Error(`GET /agents/${agentId} answered ${response.status}`);
    return agentView.parse(await response.json());
  }

  /**
   * Polls `GET /agents/{agentId}` until provisioning is over: the job `running` or `failed` and the agent moved on
   * from `provisioning` (the state machine activates the agent after the job reached `running`).
   */
  async settled(agentId: string, timeoutMs = 30_000): Promise<AgentView> {
    let view: AgentView | undefined;
    try {
      await vi.waitFor(
        async () => {
          view = await this.agent(agentId);
          expect(['running', 'failed']).toContain(view.status);
          expect(view.agentStatus).not.toBe('provisioning');
        },
        { timeout: timeoutMs, interval: 100 },
      );
    } catch (error) {
      const { agentStatus, status, currentStep, seq, jobId, error: failure } = view ?? {};
      const last = JSON.stringify({ agentStatus, status, currentStep, seq, jobId, failure });
      throw new Error(`Agent ${agentId} did not settle within ${timeoutMs} ms; last seen ${last}`, { cause: error });
    }
    return view!;
  }

  /** Connects a WebSocket client as this user. */
  live(wsUrl: string): Promise<LiveClient> {
    return LiveClient.connect(wsUrl, this.token);
  }
}

/** What paying through the Stripe fake did, as Stripe's API tells it. */
export interface PaidCheckout {
  readonly sessionId: string;
  readonly subscriptionId: string;
  /** True when the webhook endpoint acknowledged `checkout.session.completed` (2xx): the event's `pending_webhooks` is 0. */
  readonly delivered: boolean;
}

/**
 * Pays for a draft agent the way a customer does: the dashboard's `POST /agents/{agentId}/checkout` (the real checkout
 * Lambda, which creates the session on the Stripe fake), then "Pay" on the session's hosted page.
 */
export async function payForAgent(client: ApiClient, agentId: string): Promise<PaidCheckout> {
  return payCheckout(await openCheckout(client, agentId));
}

/** `POST /agents/{agentId}/checkout`: the URL of the agent's hosted checkout page on the Stripe fake. */
export async function openCheckout(client: ApiClient, agentId: string): Promise<string> {
  const checkout = await client.fetch(`/agents/${agentId}/checkout`, { method: 'POST' });
  if (checkout.status !== 200)
    throw new Error(`POST /agents/${agentId}/checkout answered ${checkout.status}: ${await checkout.text()}`);
  return ((await checkout.json()) as { url: string }).url;
}

/**
 * "Pay" on a hosted checkout page, which sends the signed webhooks to the stack's `POST /webhooks/stripe` and redirects
 * to the dashboard. The outcome is read back through the fake's API beside the page (Stripe's API), as anyone could.
 */
export async function payCheckout(url: string): Promise<PaidCheckout> {
  const paid = await fetch(url, { method: 'POST', redirect: 'manual' });
  await paid.arrayBuffer();
  if (paid.status !== 303) throw new Error(`Paying on ${url} answered ${paid.status}`);
  const { origin: stripe, pathname } = new URL(url);
  const sessionId = pathname.split('/').at(-1) ?? '';
  const session = (await stripeGet(stripe, `/v1/checkout/sessions/${sessionId}`)) as { subscription: string };
  const events = (await stripeGet(stripe, '/v1/events?type=checkout.session.completed&limit=100')) as {
    data: { pending_webhooks: number; data: { object: { id: string } } }[];
  };
  const completed = events.data.find((event) => event.data.object.id === sessionId);
  return { sessionId, subscriptionId: session.subscription, delivered: completed?.pending_webhooks === 0 };
}

/**
 * A GET on the local Stripe fake's API under the gateway's `/stripe/` (`apiUrl`: the stack's `apiUrl`, the gateway's
 * own origin), with the local secret key.
 */
export function stripeApi(apiUrl: string, path: string): Promise<unknown> {
  return stripeGet(`${apiUrl}/stripe`, path);
}

/** A GET on the Stripe API at `base` (`/v1/...`), with the local secret key. */
async function stripeGet(base: string, path: string): Promise<unknown> {
  const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${STRIPE_FAKE_SECRET_KEY}` } });
  if (response.status !== 200)
    throw new Error(`GET ${base}${path} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

/** A dashboard's WebSocket: every message it receives, parsed, in arrival order. */
export class LiveClient {
  readonly messages: ServerMessage[] = [];
  /** Conditions someone waits for, checked as each message arrives (not polled: a thousand clients poll slowly). */
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()) as ServerMessage);
      for (const check of this.waiters) check();
    });
  }

  /** Connects with `?token=`; resolves once open, rejects when the handshake is refused. */
  static async connect(wsUrl: string, token: string): Promise<LiveClient> {
    const socket = new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}`);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('unexpected-response', (_request, response) => reject(new Error(`refused: ${response.statusCode}`)));
      socket.once('error', reject);
    });
    return new LiveClient(socket);
  }

  send(message: unknown): void {
    this.socket.send(JSON.stringify(message));
  }

  /** Subscribes and waits for the snapshot. */
  async subscribe(agentId: string): Promise<void> {
    this.send({ action: 'subscribe', agentId });
    await this.until(
      () => this.messages.some((message) => message.type === 'snapshot' && message.agentId === agentId),
      15_000,
      () => `a snapshot of ${agentId}`,
    );
  }

  /** Subscribes with `since` (a reconnecting dashboard) and waits until updates up to `untilSeq` have arrived. */
  async resume(agentId: string, since: number, untilSeq: number): Promise<void> {
    this.send({ action: 'subscribe', agentId, since });
    await this.reached(untilSeq);
  }

  /** Snapshots and updates, in arrival order. */
  views(): Extract<ServerMessage, { type: 'snapshot' | 'update' }>[] {
    return this.messages.flatMap((message) =>
      message.type === 'snapshot' || message.type === 'update' ? [message] : [],
    );
  }

  /** The highest seq of a snapshot or update received so far; -1 before any. */
  lastSeq(): number {
    return Math.max(-1, ...this.views().map((view) => view.seq));
  }

  /** Waits until an update or snapshot with `seq` or higher has arrived. */
  async reached(seq: number, timeoutMs = 15_000): Promise<void> {
    await this.until(
      () => this.lastSeq() >= seq,
      timeoutMs,
      () => `seq ${seq} (last seen ${this.lastSeq()})`,
    );
  }

  /** Resolves once `condition` holds, checked now and after each message; rejects after `timeoutMs`. */
  until(condition: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`Waited ${timeoutMs} ms for ${what()}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Closes the socket and waits until it is closed. */
  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    const closed = once(this.socket, 'close');
    this.socket.close();
    await closed;
  }
}

/** The ids of every live descendant of `pid` (children, grandchildren...), read from /proc. */
export function descendantPids(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so read after the last `)`.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // The process ended while we read.
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Whether a process is alive (a zombie counts as gone: it runs nothing). */
export function isAlive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

/** `npm start` without the frontend build: `npx tsx local/start.ts` as a child, in its own process group. */
export interface SpawnedStack {
  readonly child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the printed dashboard URL; rejects if the process exits first. */
  readonly ready: Promise<string>;
  /** Resolves once the process has exited: its code, or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Ctrl-C: SIGINT to the whole process group, as a terminal sends it. */
  interrupt(): void;
  /** Kills the whole group (clean-up after a failed test). */
  kill(): void;
}

export function spawnLocalStack(env: Record<string, string>): SpawnedStack {
  const child = spawn('npx', ['tsx', 'local/start.ts'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, LOG_LEVEL: 'ERROR', RUNNER_STEP_MS: '50', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = new Promise<string>((resolve, reject) => {
    const check = () => {
      const url = /Dashboard:\s+(http:\/\/\S+)/.exec(output)?.[1];
      if (url !== undefined) resolve(url);
    };
    child.stdout!.on('data', check);
    void exited.then(({ code, signal }) =>
      reject(new Error(`local/start.ts exited (${code ?? signal}) before it was ready:\n${output}`)),
    );
  });
  ready.catch(() => {});
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // Already gone.
    }
  };
  return {
    child,
    output: () => output,
    ready,
    exited,
    interrupt: () => signalGroup('SIGINT'),
    kill: () => signalGroup('SIGKILL'),
  };
}
