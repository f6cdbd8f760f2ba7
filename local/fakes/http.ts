import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a route handler sees of a request. */
export interface FakeRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body; undefined when the request had none. */
  body: unknown;
  headers: IncomingHttpHeaders;
}

/** A reply; `body` is sent as JSON unless `contentType` says otherwise (then it must be a string). */
export interface FakeReply {
  status: number;
  body?: unknown;
  contentType?: string;
}

export type RouteHandler = (request: FakeRequest) => FakeReply;

/**
 * Makes the next `times` requests to `route` answer `status` (with the API's error body) instead of being handled.
 * `times: Infinity` fails every request from now on.
 */
export interface Fault<RouteKey extends string> {
  route: RouteKey;
  status: number;
  /** @default 1 */
  times?: number;
}

export interface FakeServerOptions<RouteKey extends string> {
  /** Keyed `"<METHOD> <path>"`, path segments starting with `:` are parameters, e.g. `"GET /servers/:id"`. */
  routes: Record<RouteKey, RouteHandler>;
  /** Prefix of every route, part of the returned `url` (e.g. `/v1`). @default '' */
  basePath?: string;
  /** Bearer token every route requires, except `publicRoutes`. */
  token: string;
  publicRoutes?: readonly RouteKey[];
  /** The API's own error body for a status and message. */
  errorBody: (status: number, message: string) => unknown;
}

/** A running fake: `url` is what the matching `*_API_URL` setting takes. */
export interface FakeServer<RouteKey extends string> {
  url: string;
  stop(): Promise<void>;
  inject(fault: Fault<RouteKey>): void;
}

interface CompiledRoute<RouteKey extends string> {
  key: RouteKey;
  method: string;
  segments: string[];
  handle: RouteHandler;
}

/** Starts a JSON API fake on 127.0.0.1 and a random port, with bearer auth, routing and fault injection. */
export async function startFakeServer<RouteKey extends string>(
  options: FakeServerOptions<RouteKey>,
): Promise<FakeServer<RouteKey>> {
  const basePath = options.basePath ?? '';
  const routes = (Object.entries(options.routes) as [RouteKey, RouteHandler][]).map(([key, handle]) => {
    const [method = '', path = ''] = key.split(' ');
    return { key, method, segments: splitPath(basePath + path), handle } satisfies CompiledRoute<RouteKey>;
  });
  const publicRoutes = new Set<RouteKey>(options.publicRoutes ?? []);
  const faults: Required<Fault<RouteKey>>[] = [];
  const error = (status: number, message: string): FakeReply => ({ status, body: options.errorBody(status, message) });

  const answer = async (request: IncomingMessage): Promise<FakeReply> => {
    const url = new URL(request.url ?? '/', 'http://fake.invalid');
    const match = matchRoute(routes, request.method ?? 'GET', url.pathname);
    if (!match) return error(404, 'Not Found');
    if (!publicRoutes.has(match.route.key) && request.headers.authorization !== `Bearer ${options.token}`) {
      return error(401, 'Bad credentials');
    }
    const fault = faults.find((candidate) => candidate.route === match.route.key && candidate.times > 0);
    if (fault) {
      fault.times -= 1;
      return error(fault.status, `Injected fault: HTTP ${fault.status}`);
    }
    const text = await readText(request);
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      return error(400, 'Problems parsing JSON');
    }
    return match.route.handle({ params: match.params, query: url.searchParams, body, headers: request.headers });
  };

  const server = createServer((request, response) => {
    answer(request).then(
      (reply) => send(response, reply),
      () => send(response, error(500, 'Internal error in fake')),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}${basePath}`,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((closeError) => (closeError ? reject(closeError) : resolve()));
        server.closeAllConnections();
      }),
    inject: (fault) => faults.push({ times: 1, ...fault }),
  };
}

function splitPath(path: string): string[] {
  return path.split('/').filter((segment) => segment !== '');
}

function matchRoute<RouteKey extends string>(
  routes: CompiledRoute<RouteKey>[],
  method: string,
  pathname: string,
): { route: CompiledRoute<RouteKey>; params: Record<string, string> } | undefined {
  const segments = splitPath(pathname);
  for (const route of routes) {
    if (route.method !== method || route.segments.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const matches = route.segments.every((expected, index) => {
      const actual = decodeURIComponent(segments[index] ?? '');
      if (expected.startsWith(':')) {
        params[expected.slice(1)] = actual;
        return true;
      }
      return expected === actual;
    });
    if (matches) return { route, params };
  }
  return undefined;
}

async function readText(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(response: ServerResponse, reply: FakeReply): void {
  if (reply.body === undefined) {
    response.writeHead(reply.status).end();
    return;
  }
  const contentType = reply.contentType ?? 'application/json; charset=utf-8';
  const payload = reply.contentType ? String(reply.body) : JSON.stringify(reply.body);
  response.writeHead(reply.status, { 'Content-Type': contentType }).end(payload);
}

/** True when `value` is a plain JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** ISO-8601 time of now, as the real APIs print it. */
export function nowIso(): string {
  return new Date().toISOString();
}
