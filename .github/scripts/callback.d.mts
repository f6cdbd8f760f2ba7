// Types for callback.mjs, which stays plain JavaScript so it runs on GitHub's runner with no build step.

/** Standard Webhooks headers that authenticate one callback (docs/CONTRACT.md, "Callback signing"). */
export interface CallbackSignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** How long a final report is retried before the workflow gives up on it (15 minutes). */
export const FINAL_REPORT_RETRY_MS: number;
/** The CLI's exit code when the server answers `ignored: terminal`. */
export const JOB_ENDED_EXIT_CODE: number;

/** The HMAC key of a `whsec_` secret (24-64 bytes, base64); undefined when the secret is not of that form. */
export function webhookKey(secret: string): Buffer | undefined;

/** The secrets of a secret string: one, or `new,old` during a rotation. */
export function splitSecrets(secretString: string): string[];

/**
 * Signs `<id>.<timestamp>.<raw body>` with each secret of `secretString` (comma-separated during a rotation);
 * `timestampSeconds` is unix seconds (fractions are dropped).
 * @throws when a secret is not a Standard Webhooks secret
 */
export function signCallback(secretString: string, webhookId: string, rawBody: string, timestampSeconds: number): CallbackSignatureHeaders;

/** `<job_id>:status:<status>`, `<job_id>:step:<step>`, `<job_id>:logs:<batch>` or `<job_id>:heartbeat:<n>`. */
export function callbackWebhookId(payload: unknown, heartbeatNumber?: number): string;

/** True for `status: running` and `status: failed`. */
export function isFinalReport(payload: unknown): boolean;

export interface PostCallbackOptions {
  url: string;
  /** One `whsec_` secret, or two separated by a comma during a rotation (both sign). */
  secret: string;
  /** Serialized with `JSON.stringify`; the signature covers exactly the bytes sent. */
  payload: unknown;
  /** The same for every delivery of this callback. @default callbackWebhookId(payload) */
  webhookId?: string;
  /** Total attempts, the first included, when `retryForMs` is not given. @default 4 */
  attempts?: number;
  /** Retry for this long instead of `attempts` times (final reports: FINAL_REPORT_RETRY_MS). */
  retryForMs?: number;
  /** First backoff ceiling; doubles per attempt, full jitter. @default 1000 (2000 with retryForMs) */
  baseDelayMs?: number;
  /** Cap of one backoff wait. @default 15000 (60000 with retryForMs) */
  maxDelayMs?: number;
  /** Ends the retries (and an attempt under way) early. */
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
  /** Receives one line per failed attempt; lines never contain the secret or the body. @default console.error */
  log?: (line: string) => void;
}

export interface PostCallbackResult {
  /** True when an attempt got a 2xx. */
  ok: boolean;
  /** HTTP status of the last answer; null when no attempt got one. */
  status: number | null;
  /** Attempts made (0 when the secret could not sign). */
  attempts: number;
  /** The 2xx answer's `ignored` (`duplicate`, `stale`, `terminal`), when it said the callback changed nothing. */
  ignored?: string;
}

/** Posts one signed callback, retrying 5xx, 429 and network errors; any 2xx or 4xx is final. Never rejects. */
export function postCallback(options: PostCallbackOptions): Promise<PostCallbackResult>;

/** True when the module at `moduleUrl` (its `import.meta.url`) is the script node was started with. */
export function isEntryPoint(moduleUrl: string): boolean;
