// Types for callback.mjs, which stays plain JavaScript so it runs on GitHub's runner with no build step.

/** Headers that authenticate one callback (docs/CONTRACT.md, "Callback signing"). */
export interface CallbackSignatureHeaders {
  'X-Callback-Timestamp': string;
  'X-Callback-Signature': string;
}

/** Signs `<timestamp>.<raw body>` with HMAC-SHA256; `timestampSeconds` is unix seconds (fractions are dropped). */
export function signCallback(secret: string, rawBody: string, timestampSeconds: number): CallbackSignatureHeaders;

export interface PostCallbackOptions {
  url: string;
  secret: string;
  /** Serialized with `JSON.stringify`; the signature covers exactly the bytes sent. */
  payload: unknown;
  /** Total attempts, the first included. @default 4 */
  attempts?: number;
  /** First backoff ceiling; doubles per attempt, full jitter, capped at 15 s. @default 1000 */
  baseDelayMs?: number;
  fetchImpl?: typeof fetch;
  /** Receives one line per failed attempt; lines never contain the secret or the body. @default console.error */
  log?: (line: string) => void;
}

export interface PostCallbackResult {
  /** True when an attempt got a 2xx. */
  ok: boolean;
  /** HTTP status of the last answer; null when no attempt got one. */
  status: number | null;
  /** Attempts made. */
  attempts: number;
}

/** Posts one signed callback, retrying 5xx, 429 and network errors; any 2xx or 4xx is final. Never rejects. */
export function postCallback(options: PostCallbackOptions): Promise<PostCallbackResult>;
