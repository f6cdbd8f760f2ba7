/**
 * HMAC signing of the workflow's callbacks (docs/CONTRACT.md, "Callback signing"):
 * `X-Callback-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`, `X-Callback-Timestamp: <unix s>`.
 * Pure: no clock, no I/O; the caller passes `now` and the secrets. The signing side is the workflow's own
 * `.github/scripts/callback.mjs`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** How far the signed timestamp may be from now, either way. */
export const CALLBACK_TOLERANCE_SECONDS = 300;

const SIGNATURE_PREFIX = 'sha256=';
const SIGNATURE_PATTERN = /^sha256=[0-9a-f]{64}$/;
// Unix seconds, no sign, no fraction, no leading zeros: one spelling per instant, so a replay cannot vary it.
const TIMESTAMP_PATTERN = /^[1-9][0-9]{0,11}$/;

export type CallbackSignatureFailure = 'invalid_signature' | 'stale_timestamp';
export type CallbackSignatureCheck = { ok: true } | { ok: false; reason: CallbackSignatureFailure };

export interface SignedCallback {
  /** The raw request body, exactly as received. */
  body: string | Uint8Array;
  /** `X-Callback-Timestamp`, when present. */
  timestamp: string | undefined;
  /** `X-Callback-Signature`, when present. */
  signature: string | undefined;
}

/**
 * The secrets a callback may be signed with: the secret string holds one, or two separated by a comma while the
 * secret is being rotated. Throws when none is left, so a misconfigured secret fails loudly instead of accepting "".
 */
export function callbackSecrets(secretString: string): string[] {
  const secrets = secretString
    .split(',')
    .map((secret) => secret.trim())
    .filter((secret) => secret.length > 0);
  if (secrets.length === 0) throw new Error('The callback secret is empty');
  return secrets;
}

function hmac(secret: string, timestamp: string, body: string | Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/**
 * Checks a callback's signature against every accepted secret in constant time, then its timestamp against `now`.
 * The signature is checked first so that only a correctly signed request learns that its timestamp was off.
 */
export function verifyCallbackSignature(
  callback: SignedCallback,
  secrets: readonly string[],
  now: Date,
): CallbackSignatureCheck {
  const { body, timestamp, signature } = callback;
  if (timestamp === undefined || signature === undefined) return { ok: false, reason: 'invalid_signature' };
  if (!TIMESTAMP_PATTERN.test(timestamp) || !SIGNATURE_PATTERN.test(signature)) {
    return { ok: false, reason: 'invalid_signature' };
  }

  const received = Buffer.from(signature.slice(SIGNATURE_PREFIX.length), 'hex');
  // Every secret is compared, matched or not, so the time taken does not tell which one matched.
  let matched = false;
  for (const secret of secrets) {
    matched = timingSafeEqual(hmac(secret, timestamp, body), received) || matched;
  }
  if (!matched) return { ok: false, reason: 'invalid_signature' };

  const ageSeconds = Math.abs(now.getTime() / 1000 - Number(timestamp));
  return ageSeconds > CALLBACK_TOLERANCE_SECONDS ? { ok: false, reason: 'stale_timestamp' } : { ok: true };
}
