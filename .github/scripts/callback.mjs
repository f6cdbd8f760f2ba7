#!/usr/bin/env node
// Signs and posts provisioning callbacks to `POST /callbacks/github` as Standard Webhooks (v1) (docs/CONTRACT.md,
// "Callback signing"). Plain Node ESM with built-ins only: it runs on GitHub's runner without `npm install`, and the
// local workflow runner imports it, so the workflow and the local runtime share ONE signing implementation.
import { createHmac } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** Longest wait for one attempt; the callback endpoint answers in well under a second. */
const ATTEMPT_TIMEOUT_MS = 10_000;
/** Upper bound of one backoff wait of a progress callback, so four attempts stay within a heartbeat interval. */
const MAX_DELAY_MS = 15_000;
/**
 * How long a final report (`running` or `failed`) is retried: a lost one would let the state machine roll back a VM
 * that came up. The workflow's work steps end 15 minutes before its job timeout (44 min), itself inside the server's
 * completion timeout (45 min), and heartbeats go on meanwhile (docs/CONTRACT.md, "Delivery").
 */
export const FINAL_REPORT_RETRY_MS = 15 * 60_000;
/** Backoff of a final report: from 2 s, doubling, capped at 60 s, full jitter. */
const FINAL_BASE_DELAY_MS = 2_000;
const FINAL_MAX_DELAY_MS = 60_000;
/** CLI exit code when the server says the job is over (`ignored: terminal`): the workflow stops and cleans up. */
export const JOB_ENDED_EXIT_CODE = 3;

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Standard Webhooks secrets are 24 to 64 random bytes. */
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;

/**
 * The HMAC key of a Standard Webhooks secret: `whsec_` + base64 of 24-64 bytes (the prefix may be left out, as the
 * official libraries allow).
 * @param {string} secret
 * @returns {Buffer | undefined} undefined when the secret is not of that form
 */
export function webhookKey(secret) {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (encoded.length === 0 || !BASE64.test(encoded)) return undefined;
  const key = Buffer.from(encoded, 'base64');
  return key.length >= MIN_KEY_BYTES && key.length <= MAX_KEY_BYTES ? key : undefined;
}

/**
 * The secrets of a secret string: one, or `new,old` during a rotation.
 * @param {string} secretString
 * @returns {string[]}
 */
export function splitSecrets(secretString) {
  return secretString
    .split(',')
    .map((secret) => secret.trim())
    .filter((secret) => secret.length > 0);
}

/**
 * Standard Webhooks headers for one callback: `v1,` + base64 HMAC-SHA256(key, `<id>.<timestamp>.<raw body>`), one
 * signature per secret, space-separated, so a receiver holding either secret of a rotation accepts it.
 * @param {string} secretString one secret, or several separated by commas (each `whsec_...`)
 * @param {string} webhookId stable across retries of the same callback
 * @param {string} rawBody the exact bytes that will be sent
 * @param {number} timestampSeconds unix seconds at signing time (fractions are dropped)
 * @returns {{ 'webhook-id': string, 'webhook-timestamp': string, 'webhook-signature': string }}
 * @throws when a secret is not a Standard Webhooks secret (the message never contains it)
 */
export function signCallback(secretString, webhookId, rawBody, timestampSeconds) {
  const timestamp = String(Math.floor(timestampSeconds));
  const signatures = splitSecrets(secretString).map((secret, index) => {
    const key = webhookKey(secret);
    if (key === undefined) {
      throw new Error(
        `callback secret ${index + 1} is not "whsec_" + base64 of ${MIN_KEY_BYTES}-${MAX_KEY_BYTES} bytes`,
      );
    }
    return `v1,${createHmac('sha256', key).update(`${webhookId}.${timestamp}.${rawBody}`).digest('base64')}`;
  });
  if (signatures.length === 0) throw new Error('the callback secret is empty');
  return { 'webhook-id': webhookId, 'webhook-timestamp': timestamp, 'webhook-signature': signatures.join(' ') };
}

/**
 * The callback's `webhook-id`, the same for every delivery of it: `<job_id>:status:<status>`, `<job_id>:step:<step>`,
 * `<job_id>:logs:<batch>` or `<job_id>:heartbeat:<n>` (n counts the run's heartbeats; without one, the time in ms
 * stands in).
 * @param {unknown} payload
 * @param {number} [heartbeatNumber]
 * @returns {string}
 */
export function callbackWebhookId(payload, heartbeatNumber) {
  const { job_id: jobId, type, step, status, batch } = /** @type {Record<string, unknown>} */ (payload ?? {});
  const detail =
    type === 'step' ? step : type === 'status' ? status : type === 'logs' ? batch : (heartbeatNumber ?? Date.now());
  return `${String(jobId)}:${String(type)}:${String(detail)}`;
}

/** True for a callback that ends the run: its loss would cost a working VM, so it is retried for minutes. */
export function isFinalReport(payload) {
  const { type, status } = /** @type {Record<string, unknown>} */ (payload ?? {});
  return type === 'status' && (status === 'running' || status === 'failed');
}

/**
 * Posts one callback, signed afresh at every attempt (same `webhook-id`, fresh timestamp) so a retry never carries a
 * stale timestamp. 5xx, 429 and network errors are retried with exponential backoff and full jitter: `attempts` times,
 * or for `retryForMs` when given. Any 2xx or 4xx is final (a 4xx means the request itself is wrong: retrying cannot
 * help, so it is logged). Never throws.
 * @param {import('./callback.d.mts').PostCallbackOptions} options
 * @returns {Promise<import('./callback.d.mts').PostCallbackResult>}
 */
export async function postCallback({
  url,
  secret,
  payload,
  webhookId = callbackWebhookId(payload),
  attempts = 4,
  retryForMs,
  baseDelayMs = retryForMs === undefined ? 1_000 : FINAL_BASE_DELAY_MS,
  maxDelayMs = retryForMs === undefined ? MAX_DELAY_MS : FINAL_MAX_DELAY_MS,
  signal,
  fetchImpl = fetch,
  log = (line) => console.error(line),
}) {
  const rawBody = JSON.stringify(payload);
  const what = describe(payload);
  const startedAt = Date.now();
  const limit = retryForMs === undefined ? String(attempts) : `${Math.round(retryForMs / 1000)} s`;
  try {
    signCallback(secret, webhookId, rawBody, startedAt / 1000);
  } catch (error) {
    log(`callback ${what} not sent: ${error instanceof Error ? error.message : 'invalid secret'}`);
    return { ok: false, status: null, attempts: 0 };
  }
  let status = null;
  for (let attempt = 1; ; attempt += 1) {
    try {
      const response = await fetchImpl(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...signCallback(secret, webhookId, rawBody, Date.now() / 1000) },
        body: rawBody,
        signal:
          signal === undefined
            ? AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)
            : AbortSignal.any([signal, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]),
      });
      status = response.status;
      const answer = await response.text().catch(() => '');
      if (status < 300) return { ok: true, status, attempts: attempt, ...ignoredReason(answer) };
      if (status < 500 && status !== 429) {
        log(`callback ${what} rejected with HTTP ${status}; not retried`);
        return { ok: false, status, attempts: attempt };
      }
      log(`callback ${what} attempt ${attempt} (of ${limit}): HTTP ${status}`);
    } catch (error) {
      log(`callback ${what} attempt ${attempt} (of ${limit}): ${error instanceof Error ? error.name : 'error'}`);
    }
    const delay = Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
    const more = retryForMs === undefined ? attempt < attempts : Date.now() + delay - startedAt < retryForMs;
    if (!more || signal?.aborted) return { ok: false, status, attempts: attempt };
    await sleep(delay, undefined, { signal }).catch(() => undefined);
    if (signal?.aborted) return { ok: false, status, attempts: attempt };
  }
}

/** `{ ignored }` of a 2xx answer that says the callback changed nothing, else `{}`. */
function ignoredReason(answer) {
  try {
    const { ignored } = JSON.parse(answer);
    return typeof ignored === 'string' ? { ignored } : {};
  } catch {
    return {};
  }
}

/** `type`, `step` and `status` of a payload, for log lines that never carry anything else from the body. */
function describe(payload) {
  if (typeof payload !== 'object' || payload === null) return 'invalid';
  return ['type', 'step', 'status']
    .map((key) => payload[key])
    .filter((value) => typeof value === 'string')
    .join(':');
}

/**
 * CLI: `node callback.mjs '<json>' [heartbeat number]` with `CALLBACK_URL` and `CALLBACK_SECRET` in the environment.
 * A final report (`running`/`failed`) is retried for FINAL_REPORT_RETRY_MS. Prints one line and exits 0, also when the
 * callback was lost (the server's timeouts cover it), except with JOB_ENDED_EXIT_CODE when the server answers
 * `ignored: terminal`: the job is over and the workflow must stop.
 */
async function main() {
  const { CALLBACK_URL: url, CALLBACK_SECRET: secret } = process.env;
  let payload;
  try {
    payload = JSON.parse(process.argv[2] ?? '');
  } catch {
    console.log('callback skipped: the argument is not JSON');
    return;
  }
  if (!url || !secret) {
    console.log('callback skipped: CALLBACK_URL and CALLBACK_SECRET must be set');
    return;
  }
  const heartbeatNumber = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
  const result = await postCallback({
    url,
    secret,
    payload,
    webhookId: callbackWebhookId(payload, heartbeatNumber),
    ...(isFinalReport(payload) ? { retryForMs: FINAL_REPORT_RETRY_MS } : {}),
  });
  const ignored = result.ignored === undefined ? '' : ` ignored=${result.ignored}`;
  console.log(
    `callback ${describe(payload)} ok=${result.ok} status=${result.status} attempts=${result.attempts}${ignored}`,
  );
  if (result.ignored === 'terminal') process.exitCode = JOB_ENDED_EXIT_CODE;
}

/**
 * True when the module at `moduleUrl` is the script node was started with (not imported).
 * @param {string} moduleUrl its `import.meta.url`
 */
export function isEntryPoint(moduleUrl) {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

if (isEntryPoint(import.meta.url)) await main();
