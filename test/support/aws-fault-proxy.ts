/**
 * A fault-injecting HTTP proxy in front of an AWS JSON endpoint (the local Step Functions): it forwards every request
 * unless told to fail those of one operation (the `X-Amz-Target` action, e.g. `StartExecution`), either refused with
 * a 5xx the SDK retries and then surfaces, or forwarded and its answer lost (the call took effect, the caller never
 * heard: what a crash or a timeout after the request looks like).
 */
import { Agent, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenLocally } from './listen.ts';

export type AwsFault = 'refuse' | 'lose-answer';

export interface AwsFaultProxy {
  /** Forwards to `target` from now on; returns the endpoint to give callers instead. */
  route(target: string): string;
  /** Fails requests of `operation` from now on; after `requests` failed ones when given, it forwards again by itself. */
  fail(operation: string, fault: AwsFault, requests?: number): void;
  /** Forwards everything again. */
  pass(): void;
  /** Requests of `operation` seen so far (failed or not). */
  seen(operation: string): number;
  stop(): Promise<void>;
}

const UNAVAILABLE = JSON.stringify({ __type: 'ServiceUnavailable', message: 'Injected: the service is unavailable' });

export async function startAwsFaultProxy(): Promise<AwsFaultProxy> {
  let target = '';
  const agent = new Agent({ keepAlive: true });
  const seen = new Map<string, number>();
  let failure: { operation: string; fault: AwsFault; left: number } | undefined;

  const forward = (request: IncomingMessage, response: ServerResponse, loseAnswer: boolean) => {
    const upstream = httpRequest(
      new URL(request.url ?? '/', target),
      { method: request.method, headers: request.headers, agent },
      (answer) => {
        if (loseAnswer) {
          answer.resume();
          answer.on('end', () => response.destroy());
          return;
        }
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  };

  const server = await listenLocally((request, response) => {
    const operation = String(request.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    seen.set(operation, (seen.get(operation) ?? 0) + 1);
    const fault =
      failure !== undefined && failure.operation === operation && failure.left > 0 ? failure.fault : undefined;
    if (fault !== undefined && failure !== undefined) failure.left -= 1;
    if (fault === 'refuse') {
      request.resume();
      response.writeHead(503, { 'content-type': 'application/x-amz-json-1.0' }).end(UNAVAILABLE);
      return;
    }
    forward(request, response, fault === 'lose-answer');
  });
  const endpoint = server.origin;
  return {
    route: (to) => {
      target = to;
      return endpoint;
    },
    fail: (operation, fault, requests = Number.POSITIVE_INFINITY) => {
      failure = { operation, fault, left: requests };
    },
    pass: () => {
      failure = undefined;
    },
    seen: (operation) => seen.get(operation) ?? 0,
    async stop() {
      agent.destroy();
      await server.stop();
    },
  };
}
