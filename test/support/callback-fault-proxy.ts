/**
 * A fault-injecting HTTP proxy between the workflow and the callback endpoint (`CALLBACK_URL`): it forwards every
 * callback unless told to fail the next ones of a kind, as the internet between GitHub's runners and API Gateway can:
 * lost before it arrives, arrived but its answer lost (the workflow retries a callback that took effect), sent twice,
 * or held back for a while (so that it lands after later ones, or after a timeout).
 */
import { Agent, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenLocally } from './listen.ts';

export type CallbackFault = 'lose' | 'lose-answer' | 'duplicate' | 'delay';
/** What a callback reports: the final `running`/`failed` status, a step, a heartbeat, or another status. */
export type CallbackKind = 'final' | 'step' | 'heartbeat' | 'status';

export interface CallbackFaultProxy {
  /** Forwards to `target` from now on; returns the URL to give the workflow instead. */
  route(target: string): string;
  /** Fails the next `requests` callbacks of `kind` with `fault` (`delay` holds each for `delayMs`). */
  fail(kind: CallbackKind, fault: CallbackFault, requests?: number, delayMs?: number): void;
  /** Callbacks failed so far, by fault. */
  injected(): Readonly<Record<CallbackFault, number>>;
  stop(): Promise<void>;
}

function kindOf(body: string): CallbackKind {
  try {
    const { type, status } = JSON.parse(body) as { type?: string; status?: string };
    if (type === 'heartbeat') return 'heartbeat';
    if (type === 'step') return 'step';
    return status === 'running' || status === 'failed' ? 'final' : 'status';
  } catch {
    return 'status';
  }
}

export async function startCallbackFaultProxy(): Promise<CallbackFaultProxy> {
  let target = '';
  const agent = new Agent({ keepAlive: true });
  const failures: { kind: CallbackKind; fault: CallbackFault; left: number; delayMs: number }[] = [];
  const injected: Record<CallbackFault, number> = { lose: 0, 'lose-answer': 0, duplicate: 0, delay: 0 };

  /** Sends the callback on and resolves with the endpoint's answer. */
  const send = (request: IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>(
      (resolve, reject) => {
        const upstream = httpRequest(target, { method: request.method, headers: request.headers, agent }, (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.on('end', () =>
            resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }),
          );
          answer.on('error', reject);
        });
        upstream.on('error', reject);
        upstream.end(body);
      },
    );

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const kind = kindOf(body.toString('utf8'));
    const failure = failures.find((candidate) => candidate.kind === kind && candidate.left > 0);
    if (failure !== undefined) {
      failure.left -= 1;
      injected[failure.fault] += 1;
    }
    if (failure?.fault === 'lose') return void response.destroy();
    if (failure?.fault === 'delay') await new Promise((resolve) => setTimeout(resolve, failure.delayMs));
    if (failure?.fault === 'duplicate') await send(request, body);
    const answer = await send(request, body);
    if (failure?.fault === 'lose-answer') return void response.destroy();
    response.writeHead(answer.status, answer.headers).end(answer.body);
  };

  const server = await listenLocally((request, response) => {
    handle(request, response).catch(() => response.destroy());
  });
  const url = server.origin;
  return {
    route: (to) => {
      target = to;
      return `${url}${new URL(to).pathname}`;
    },
    fail: (kind, fault, requests = 1, delayMs = 0) => {
      failures.push({ kind, fault, left: requests, delayMs });
    },
    injected: () => ({ ...injected }),
    async stop() {
      agent.destroy();
      await server.stop();
    },
  };
}
