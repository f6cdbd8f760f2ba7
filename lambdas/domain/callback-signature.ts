/**
 * Verification of the workflow's callbacks (docs/CONTRACT.md, "Callback signing"): Standard Webhooks v1, checked by the
 * official `standardwebhooks` library (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256
 * of "<id>.<timestamp>.<raw body>">`, ±300 s). The legacy scheme (`X-Callback-Signature: sha256=<hex HMAC of
 * "<timestamp>.<raw body>">`, `X-Callback-Timestamp`) is accepted only when the deployment allows it, for one release.
 * No I/O: the caller passes the secrets. The signing side is the workflow's own `.github/scripts/callback.mjs`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

/** How far the signed timestamp may be from now, either way (the library's fixed tolerance is the same). */
export const CALLBACK_TOLERANCE_SECONDS = 300;

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Standard Webhooks secrets are 24 to 64 random bytes. */
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;
// Unix seconds, no sign, no fraction, no leading zeros: one spelling per instant, so a replay cannot vary it.
const TIMESTAMP_PATTERN = /^[1-9][0-9]{0,11}$/;
/** What the workflow sends (`<job_id>:<kind>:<n>`); printable, no spaces, bounded, so it can key a record. */
const WEBHOOK_ID_PATTERN = /^[\x21-\x7e]{1,200}$/;
/** A rotation signs with two secrets; more than a few signatures is abuse, not rotation. */
const MAX_SIGNATURE_HEADER_LENGTH = 1_024;
const LEGACY_SIGNATURE_PREFIX = 'sha256=';
const LEGACY_SIGNATURE_PATTERN = /^sha256=[0-9a-f]{64}$/;

export type CallbackSignatureFailure = 'invalid_signature' | 'stale_timestamp';
export type CallbackVerification =
  /** `signedAt`: the verified timestamp the sender signed (whole seconds), where the callback lag is measured from. */
  | { ok: true; scheme: 'v1'; webhookId: string; signedAt: Date }
  | { ok: true; scheme: 'legacy'; signedAt: Date }
  | { ok: false; reason: CallbackSignatureFailure };

/** The signature headers of a request, whichever are present. */
export interface CallbackHeaders {
  webhookId?: string;
  webhookTimestamp?: string;
  webhookSignature?: string;
  /** `X-Callback-Timestamp` (legacy). */
  legacyTimestamp?: string;
  /** `X-Callback-Signature` (legacy). */
  legacySignature?: string;
}

/** The keys a callback may be signed with, from the secret string (one secret, or `new,old` during a rotation). */
export interface CallbackKeys {
  /** One verifier per secret that is a Standard Webhooks secret. */
  readonly webhooks: readonly Webhook[];
  /** Every secret as it is written: the legacy scheme used it as the HMAC key. */
  readonly legacy: readonly string[];
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

/** True for `whsec_` + base64 of 24-64 bytes (the prefix may be left out, as the official libraries allow). */
export function isWebhookSecret(secret: string): boolean {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (encoded.length === 0 || !BASE64.test(encoded)) return false;
  const bytes = Buffer.from(encoded, 'base64').length;
  return bytes >= MIN_KEY_BYTES && bytes <= MAX_KEY_BYTES;
}

/**
 * Verifiers for every secret of the secret string. Throws when no secret is a Standard Webhooks secret: the workflow
 * could not sign with it, so the deployment must fail loudly (the message never contains a secret).
 */
export function callbackKeys(secretString: string): CallbackKeys {
  const legacy = callbackSecrets(secretString);
  const webhooks = legacy.filter(isWebhookSecret).map((secret) => new Webhook(secret));
  if (webhooks.length === 0) {
    throw new Error(`No callback secret is "${SECRET_PREFIX}" + base64 of ${MIN_KEY_BYTES}-${MAX_KEY_BYTES} bytes`);
  }
  return { webhooks, legacy };
}

/**
 * Checks a callback's signature: Standard Webhooks when any `webhook-*` header is present, else the legacy headers
 * when `acceptLegacy` allows them. A request without a valid signature is refused whatever else it carries.
 */
export function verifyCallback(
  body: Uint8Array,
  headers: CallbackHeaders,
  keys: CallbackKeys,
  options: { acceptLegacy: boolean; now?: Date },
): CallbackVerification {
  const { webhookId, webhookTimestamp, webhookSignature } = headers;
  if (webhookId !== undefined || webhookTimestamp !== undefined || webhookSignature !== undefined) {
    return verifyStandardWebhook(body, { webhookId, webhookTimestamp, webhookSignature }, keys.webhooks);
  }
  if (!options.acceptLegacy) return { ok: false, reason: 'invalid_signature' };
  const legacy = verifyLegacySignature(body, headers, keys.legacy, options.now ?? new Date());
  return legacy.ok ? { ok: true, scheme: 'legacy', signedAt: secondsToDate(headers.legacyTimestamp!) } : legacy;
}

/**
 * Standard Webhooks v1 through the official library, trying each secret (a rotation). The library checks the
 * timestamp against the clock first, then the signatures in constant time; ids and timestamps are held to one
 * spelling here first, since the id keys the de-duplication record and the library reads timestamps with parseInt.
 */
function verifyStandardWebhook(
  body: Uint8Array,
  headers: CallbackHeaders,
  webhooks: readonly Webhook[],
): CallbackVerification {
  const { webhookId, webhookTimestamp, webhookSignature } = headers;
  if (
    webhookId === undefined ||
    webhookTimestamp === undefined ||
    webhookSignature === undefined ||
    !WEBHOOK_ID_PATTERN.test(webhookId) ||
    !TIMESTAMP_PATTERN.test(webhookTimestamp) ||
    webhookSignature.length > MAX_SIGNATURE_HEADER_LENGTH
  ) {
    return { ok: false, reason: 'invalid_signature' };
  }
  const signed = {
    'webhook-id': webhookId,
    'webhook-timestamp': webhookTimestamp,
    'webhook-signature': webhookSignature,
  };
  for (const webhook of webhooks) {
    try {
      webhook.verify(body, signed, { jsonParse: false });
      return { ok: true, scheme: 'v1', webhookId, signedAt: secondsToDate(webhookTimestamp) };
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      // "Message timestamp too old" / "too new": the same for every secret.
      if (/timestamp/i.test(error.message)) return { ok: false, reason: 'stale_timestamp' };
    }
  }
  return { ok: false, reason: 'invalid_signature' };
}

function legacyHmac(secret: string, timestamp: string, body: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/**
 * The legacy scheme, as it was: every secret compared in constant time, then the timestamp, so that only a correctly
 * signed request learns that its timestamp was off.
 */
function verifyLegacySignature(
  body: Uint8Array,
  { legacyTimestamp: timestamp, legacySignature: signature }: CallbackHeaders,
  secrets: readonly string[],
  now: Date,
): { ok: true } | { ok: false; reason: CallbackSignatureFailure } {
  if (timestamp === undefined || signature === undefined) return { ok: false, reason: 'invalid_signature' };
  if (!TIMESTAMP_PATTERN.test(timestamp) || !LEGACY_SIGNATURE_PATTERN.test(signature)) {
    return { ok: false, reason: 'invalid_signature' };
  }
  const received = Buffer.from(signature.slice(LEGACY_SIGNATURE_PREFIX.length), 'hex');
  // Every secret is compared, matched or not, so the time taken does not tell which one matched.
  let matched = false;
  for (const secret of secrets) {
    matched = timingSafeEqual(legacyHmac(secret, timestamp, body), received) || matched;
  }
  if (!matched) return { ok: false, reason: 'invalid_signature' };
  const ageSeconds = Math.abs(now.getTime() / 1000 - Number(timestamp));
  return ageSeconds > CALLBACK_TOLERANCE_SECONDS ? { ok: false, reason: 'stale_timestamp' } : { ok: true };
}

/** A timestamp header that passed `TIMESTAMP_PATTERN`: Unix seconds. */
function secondsToDate(timestamp: string): Date {
  return new Date(Number(timestamp) * 1000);
}
