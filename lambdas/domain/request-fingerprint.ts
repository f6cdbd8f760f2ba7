/**
 * Idempotency keys' "same key, same request" check. Apart from lifecycle.ts because it needs node:crypto, and the
 * dashboard imports lifecycle.ts for its action rules.
 */
import { createHash } from 'node:crypto';

/** What "the same request" compares: the method, the path and the body as the client sent it (parsed JSON). */
export interface FingerprintedRequest {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
}

/** JSON with every object's keys sorted, at any depth: two bodies that differ only in key order or spacing match. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, inner]) => [key, canonical(inner)]),
  );
}

/**
 * Fingerprint of a whole request (method, path, every field of the body, as Stripe compares a key's requests): a key
 * sent again with anything else, another action or another reason alike, does not match its first request.
 */
export function requestFingerprint(request: FingerprintedRequest): string {
  const { method, path, body } = request;
  return createHash('sha256')
    .update(JSON.stringify([method.toUpperCase(), path, canonical(body)]))
    .digest('hex');
}
