/**
 * A CloudFront Function run as CloudFront runs it on a viewer request: the template's code in a realm of its own
 * (`node:vm`) holding only the language's built-ins and `console.log`, with no network, file system, timers or `eval`,
 * given the documented event (`version`, `context`, `viewer`, `request` with lowercase `headers`,
 * `querystring` and `cookies` of `{ value, multiValue? }`) and answering the request to forward or a response to send.
 * The runtime's own modules (`crypto`, `querystring`, `buffer`, `cloudfront` for KeyValueStore) are not offered: the
 * template's function needs none, and one that `require`s them fails here (503) rather than run on Node's versions.
 * (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/functions-event-structure.html,
 * https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/functions-javascript-runtime-20.html)
 */
import { Script, createContext } from 'node:vm';
import type { CloudFrontFunctionCode } from './distribution.ts';

/** A query string parameter, header or cookie as the event holds it. */
export interface FunctionValue {
  readonly value: string;
  readonly multiValue?: readonly { readonly value: string }[];
}
export type FunctionValues = Readonly<Record<string, FunctionValue>>;

export interface FunctionRequest {
  readonly method: string;
  readonly uri: string;
  readonly querystring: FunctionValues;
  readonly headers: FunctionValues;
  readonly cookies: FunctionValues;
}

export interface FunctionResponse {
  readonly statusCode: number;
  readonly statusDescription?: string;
  readonly headers?: FunctionValues;
  readonly cookies?: Readonly<Record<string, { readonly value: string; readonly attributes?: string }>>;
  readonly body?: string | { readonly data: string; readonly encoding: 'text' | 'base64' };
}

export interface ViewerRequestEvent {
  readonly version: '1.0';
  readonly context: {
    readonly distributionDomainName: string;
    readonly distributionId: string;
    readonly eventType: 'viewer-request';
    readonly requestId: string;
  };
  readonly viewer: { readonly ip: string };
  readonly request: FunctionRequest;
}

export type ViewerRequestOutcome =
  | { readonly kind: 'request'; readonly request: FunctionRequest }
  | { readonly kind: 'response'; readonly response: FunctionResponse };

/**
 * How long one run may take here. CloudFront bounds a function by its compute utilization (about 1 ms of CPU) and
 * fails the request with 503 when it is exceeded. Locally only wall-clock time can interrupt a run, and the one
 * process stalls on a loaded machine: under the model tests' load the SPA function's run timed out at 100 ms and at
 * 1 s (`Script execution timed out`), so the bound only stops a runaway function and never a slow machine.
 */
const RUN_TIMEOUT_MS = 10_000;

/** Compiles the function once; each call runs `handler(event)` in its realm. */
export function viewerRequestFunction(
  fn: CloudFrontFunctionCode,
  log: (line: string) => void = () => {},
): (event: ViewerRequestEvent) => Promise<ViewerRequestOutcome> {
  const context = createContext(
    { console: { log: (...parts: unknown[]) => log(parts.map(String).join(' ')) } },
    { name: fn.logicalId, codeGeneration: { strings: false, wasm: false } },
  );
  new Script(fn.code, { filename: `${fn.logicalId}.js` }).runInContext(context, { timeout: RUN_TIMEOUT_MS });
  if (new Script('typeof handler').runInContext(context) !== 'function') {
    throw new Error(`CloudFront function ${fn.logicalId} defines no handler(event)`);
  }
  // The event is parsed inside the realm, so the function sees only objects of its own built-ins.
  const run = new Script('handler(JSON.parse(__event))', { filename: `${fn.logicalId}-invoke.js` });
  return async (event) => {
    context.__event = JSON.stringify(event);
    const answered: unknown = await run.runInContext(context, { timeout: RUN_TIMEOUT_MS });
    const result = JSON.parse(JSON.stringify(answered ?? null)) as Record<string, unknown> | null;
    if (result === null || typeof result !== 'object') {
      throw new Error(`CloudFront function ${fn.logicalId} returned neither a request nor a response`);
    }
    if (typeof result.statusCode === 'number')
      return { kind: 'response', response: result as unknown as FunctionResponse };
    const request = result as Partial<FunctionRequest>;
    if (typeof request.uri !== 'string' || !request.uri.startsWith('/')) {
      throw new Error(`CloudFront function ${fn.logicalId} returned a request without a valid uri`);
    }
    return {
      kind: 'request',
      request: {
        // The method cannot be changed by a function.
        method: event.request.method,
        uri: request.uri,
        querystring: request.querystring ?? {},
        headers: request.headers ?? {},
        cookies: request.cookies ?? {},
      },
    };
  };
}

/** The event's `querystring` from the raw query (values as sent, still URL-encoded), repeated names in `multiValue`. */
export function querystringOf(rawQuery: string): FunctionValues {
  const values: Record<string, string[]> = {};
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const separator = part.indexOf('=');
    const name = separator === -1 ? part : part.slice(0, separator);
    (values[name] ??= []).push(separator === -1 ? '' : part.slice(separator + 1));
  }
  return valuesOf(values);
}

/** The event's `headers` (lowercase names, `cookie` left out: it is in `cookies`) and `cookies`. */
export function headersAndCookiesOf(rawHeaders: readonly string[]): {
  headers: FunctionValues;
  cookies: FunctionValues;
} {
  const headers: Record<string, string[]> = {};
  const cookies: Record<string, string[]> = {};
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    const name = rawHeaders[index]!.toLowerCase();
    const value = rawHeaders[index + 1]!;
    if (name !== 'cookie') {
      (headers[name] ??= []).push(value);
      continue;
    }
    for (const pair of value.split(';')) {
      const trimmed = pair.trim();
      if (trimmed === '') continue;
      const separator = trimmed.indexOf('=');
      const cookie = separator === -1 ? trimmed : trimmed.slice(0, separator);
      (cookies[cookie] ??= []).push(separator === -1 ? '' : trimmed.slice(separator + 1));
    }
  }
  return { headers: valuesOf(headers), cookies: valuesOf(cookies) };
}

/** The raw query string of an event's `querystring`. */
export function rawQueryOf(querystring: FunctionValues): string {
  return Object.entries(querystring)
    .flatMap(([name, { value, multiValue }]) => (multiValue ?? [{ value }]).map((entry) => `${name}=${entry.value}`))
    .join('&');
}

/** Header lines of an event's `headers` (and `cookies`, as one `cookie` header). */
export function headerLinesOf(
  headers: FunctionValues,
  cookies: FunctionValues = {},
): Record<string, string | string[]> {
  const lines: Record<string, string | string[]> = {};
  for (const [name, { value, multiValue }] of Object.entries(headers)) {
    const all = (multiValue ?? [{ value }]).map((entry) => entry.value);
    lines[name] = all.length === 1 ? all[0]! : all;
  }
  const cookieLine = Object.entries(cookies)
    .flatMap(([name, { value, multiValue }]) => (multiValue ?? [{ value }]).map((entry) => `${name}=${entry.value}`))
    .join('; ');
  if (cookieLine !== '') lines.cookie = cookieLine;
  return lines;
}

function valuesOf(values: Record<string, string[]>): FunctionValues {
  return Object.fromEntries(
    Object.entries(values).map(([name, all]) => [
      name,
      all.length === 1 ? { value: all[0]! } : { value: all[0]!, multiValue: all.map((value) => ({ value })) },
    ]),
  );
}
