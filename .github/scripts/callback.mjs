#!/usr/bin/env node
// Signs and posts provisioning callbacks to `POST /callbacks/github` (docs/CONTRACT.md, "Callback signing").
// Plain Node ESM with built-ins only: it runs on GitHub's runner without `npm install`, and the local workflow runner
// imports it, so the workflow and the local runtime share ONE signing implementation.
import { createHmac } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** Longest wait for one attempt; the callback endpoint answers in well under a second. */
const ATTEMPT_TIMEOUT_MS = 10_000;
/** Upper bound of one backoff wait, so four attempts stay within a heartbeat interval. */
const MAX_DELAY_MS = 15_000;

/**
 * Signature headers for one callback: `sha256=` + lowercase hex HMAC-SHA256(secret, `<timestamp>.<raw body>`).
 * @param {string} secret shared callback secret
 * @param {string} rawBody the exact bytes that will be sent
 * @param {number} timestampSeconds unix seconds at signing time
 * @returns {{ 'X-Callback-Timestamp': string, 'X-Callback-Signature': string }}
 */
export function signCallback(secret, rawBody, timestampSeconds) {
  const timestamp = String(Math.floor(timestampSeconds));
  const digest = createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex');
  return { 'X-Callback-Timestamp': timestamp, 'X-Callback-Signature': `sha256=${digest}` };
}

/**
 * Posts one callback, signed afresh at every attempt so a retry never carries a stale timestamp.
 * 5xx, 429 and network errors are retried with exponential backoff and full jitter; any 2xx or 4xx is final (a 4xx
 * means the request itself is wrong: retrying cannot help, so it is logged). Never throws.
 * @param {{
 *   url: string,
 *   secret: string,
 *   payload: unknown,
 *   attempts?: number,
 *   baseDelayMs?: number,
 *   fetchImpl?: typeof fetch,
 *   log?: (line: string) => void,
 * }} options
 * @returns {Promise<{ ok: boolean, status: number | null, attempts: number }>} `status` is null when no attempt got an
 *   HTTP answer
 */
export async function postCallback({
  url,
  secret,
  payload,
  attempts = 4,
  baseDelayMs = 1_000,
  fetchImpl = fetch,
  log = (line) => console.error(line),
}) {
  const rawBody = JSON.stringify(payload);
  const what = describe(payload);
  let status = null;
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    let retryable;
    try {
      const response = await fetchImpl(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...signCallback(secret, rawBody, Date.now() / 1000) },
        body: rawBody,
        signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      });
      status = response.status;
      // Drain the body so the connection can be reused; its content is not needed.
      await response.arrayBuffer().catch(() => undefined);
      if (status < 300) return { ok: true, status, attempts: attempt };
      retryable = status >= 500 || status === 429;
      if (!retryable) {
        log(`callback ${what} rejected with HTTP ${status}; not retried`);
        return { ok: false, status, attempts: attempt };
      }
      log(`callback ${what} attempt ${attempt}/${attempts}: HTTP ${status}`);
    } catch (error) {
      log(`callback ${what} attempt ${attempt}/${attempts}: ${error instanceof Error ? error.name : 'error'}`);
    }
    if (attempt < attempts) {
      await sleep(Math.random() * Math.min(MAX_DELAY_MS, baseDelayMs * 2 ** (attempt - 1)));
    }
  }
  return { ok: false, status, attempts };
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
 * CLI: `node callback.mjs '<json>'` with `CALLBACK_URL` and `CALLBACK_SECRET` in the environment. Prints one line and
 * always exits 0: a lost callback must not fail provisioning, the server's heartbeat and completion timeouts cover it.
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
  const result = await postCallback({ url, secret, payload });
  console.log(`callback ${describe(payload)} ok=${result.ok} status=${result.status} attempts=${result.attempts}`);
}

function isEntryPoint() {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) await main();
