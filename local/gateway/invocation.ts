import type { IncomingMessage } from 'node:http';
import type { LambdaTarget } from './routes.ts';

/** Calls the function behind a route with an event; the gateway builds the Lambda context. */
export type InvokeTarget = (target: LambdaTarget, event: unknown) => Promise<unknown>;

/** Where the gateway reports handler failures and its own life cycle. Never given request bodies or tokens. */
export interface GatewayLogger {
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

/** The client's address as API Gateway reports it (`sourceIp`): plain IPv4 for IPv4-mapped IPv6 addresses. */
export function sourceIpOf(request: IncomingMessage): string {
  return (request.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

/** An error reduced to what may be logged (no request data). */
export function describeError(error: unknown): { name: string; message: string; stack?: string } {
  if (error instanceof Error)
    return { name: error.name, message: error.message, ...(error.stack && { stack: error.stack }) };
  return { name: 'NonError', message: String(error) };
}
