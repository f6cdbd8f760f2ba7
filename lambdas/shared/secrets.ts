import { getSecret } from '@aws-lambda-powertools/parameters/secrets';

const CACHE_SECONDS = 300;

/**
 * The string value of a Secrets Manager secret, cached for five minutes so a rotation reaches warm containers soon.
 * Never log what this returns.
 */
export async function secretValue(secretId: string): Promise<string> {
  const value = await getSecret(secretId, { maxAge: CACHE_SECONDS });
  if (typeof value !== 'string') throw new Error(`Secret ${secretId} has no string value`);
  return value;
}
