import { randomBytes, randomFillSync } from 'node:crypto';

const ID_BYTES = 11;
/** Random bytes for this many ids drawn at once: one call into the CSPRNG per 4 KB, not one per request. */
const pool = Buffer.allocUnsafe(ID_BYTES * 372);
let poolOffset = pool.length;

/**
 * A new id in API Gateway's format for connection ids and request ids: 11 random bytes in base64, e.g.
 * `Fh3jKcE9IAMCJkA=`. Like the real ones they may contain `+` and `/`, so code that puts them in URLs must encode them.
 */
export function newApiGatewayId(): string {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += ID_BYTES;
  return pool.toString('base64', poolOffset - ID_BYTES, poolOffset);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

/** API Gateway's request time format (CLF), always UTC: `12/Mar/2020:19:03:58 +0000`. */
export function formatRequestTime(date: Date): string {
  const pad = (value: number): string => String(value).padStart(2, '0');
  const day = pad(date.getUTCDate());
  const month = MONTHS[date.getUTCMonth()];
  const time = `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  return `${day}/${month}/${date.getUTCFullYear()}:${time} +0000`;
}

/** An X-Ray trace header like the one API Gateway adds to every request: `Root=1-<epoch hex>-<24 hex>`. */
export function newTraceId(date: Date): string {
  const epochSeconds = Math.floor(date.getTime() / 1000).toString(16);
  return `Root=1-${epochSeconds}-${randomBytes(12).toString('hex')}`;
}
