/**
 * Idempotency keys' "same key, same body" check. Apart from lifecycle.ts because it needs node:crypto, and the
 * dashboard imports lifecycle.ts for its action rules.
 */
import { createHash } from 'node:crypto';

/** Fingerprint of a request body, insensitive to key order and whitespace: "same key, same body" compares these. */
export function requestFingerprint(body: Readonly<Record<string, unknown>>): string {
  const canonical = JSON.stringify(Object.fromEntries(Object.entries(body).sort(([a], [b]) => a.localeCompare(b))));
  return createHash('sha256').update(canonical).digest('hex');
}
