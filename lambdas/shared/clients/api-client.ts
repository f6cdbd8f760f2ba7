/**
 * JSON over HTTPS to the GitHub, Hetzner and Tailscale APIs with the platform `fetch`: every attempt has a timeout,
 * and throttling (429), server errors (5xx) and network failures are retried with capped exponential backoff (full
 * jitter) that honours `Retry-After`, within a time budget that fits the Lambda's timeout. Other answers go back to
 * the caller, which knows what a 404 or 409 means for it.
 */
import { ERROR_NAMES } from '../../domain/error-names.ts';

export interface ApiRequest {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly url: string;
  /** Bearer token; never logged, never part of an error message. */
  readonly token: string;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ApiResponse {
  readonly status: number;
  /** Parsed JSON, or undefined for an empty or non-JSON body. */
  readonly body: unknown;
}

export interface RetryPolicy {
  /** @default 4 */
  readonly attempts?: number;
  /** Per attempt. @default 10_000 */
  readonly timeoutMs?: number;
  /** First backoff; doubles per attempt. @default 500 */
  readonly baseDelayMs?: number;
  /** No single wait is longer (a longer `Retry-After` ends the retries). @default 8_000 */
  readonly maxDelayMs?: number;
  /** No retry starts after this much time has passed since the first attempt. @default 20_000 */
  readonly budgetMs?: number;
}

/** The API could not be reached or kept failing (5xx, 429, network) after the retries. */
export class ApiUnavailableError extends Error {
  override readonly name = ERROR_NAMES.ApiUnavailable;
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** Sends `request`, retrying what may heal; returns the first answer that will not (2xx and non-retryable 4xx). */
export async function callApi(request: ApiRequest, policy: RetryPolicy = {}): Promise<ApiResponse> {
  const { attempts = 4, timeoutMs = 10_000, baseDelayMs = 500, maxDelayMs = 8_000, budgetMs = 20_000 } = policy;
  const started = Date.now();
  const what = `${request.method} ${new URL(request.url).pathname}`;
  for (let attempt = 1; ; attempt++) {
    let failure: string;
    let retryAfterMs: number | undefined;
    let status: number | undefined;
    try {
      const response = await fetch(request.url, {
        method: request.method,
        headers: {
          Authorization: `Bearer ${request.token}`,
          Accept: 'application/json',
          ...(request.body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...request.headers,
        },
        ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!isRetryable(response)) return { status: response.status, body: await jsonBody(response) };
      await response.body?.cancel();
      status = response.status;
      failure = `HTTP ${response.status}`;
      retryAfterMs = retryAfter(response.headers.get('retry-after'));
    } catch (error) {
      failure =
        error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'network error';
    }

    const backoffMs = Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
    const delayMs = retryAfterMs ?? backoffMs;
    if (attempt >= attempts || delayMs > maxDelayMs || Date.now() - started + delayMs > budgetMs) {
      throw new ApiUnavailableError(`${what} failed after ${attempt} attempt(s): ${failure}`, status);
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}

/** 429, 5xx, and GitHub's rate limits, which answer 403 with `Retry-After` or no remaining requests. */
function isRetryable(response: Response): boolean {
  if (response.status === 429 || response.status >= 500) return true;
  return (
    response.status === 403 &&
    (response.headers.has('retry-after') || response.headers.get('x-ratelimit-remaining') === '0')
  );
}

/** `Retry-After` in milliseconds (delta-seconds or an HTTP date), if present and sensible. */
function retryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

async function jsonBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The `message` of an API error body, shortened, for errors people may see (API messages carry no secrets). */
export function apiMessage(body: unknown, fallback: string): string {
  const message =
    typeof body === 'object' && body !== null ? (body as { message?: unknown; error?: { message?: unknown } }) : {};
  const text = message.message ?? message.error?.message;
  return typeof text === 'string' && text !== '' ? text.slice(0, 300) : fallback;
}
