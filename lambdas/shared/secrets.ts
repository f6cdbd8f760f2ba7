import { GetParameterError } from '@aws-lambda-powertools/parameters';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';

const CACHE_SECONDS = 300;

/**
 * The string value of a Secrets Manager secret, cached for five minutes so a rotation reaches warm containers soon.
 * Never log what this returns.
 * @throws the SDK's own error (`ThrottlingException`, `TimeoutError`, `ResourceNotFoundException`, ...), not
 *   Powertools' `GetParameterError` around it: callers and the state machine's Retry tell transient failures apart by name
 */
export async function secretValue(secretId: string): Promise<string> {
  let value: unknown;
  try {
    value = await getSecret(secretId, { maxAge: CACHE_SECONDS });
  } catch (error) {
    throw error instanceof GetParameterError && error.cause instanceof Error ? error.cause : error;
  }
  if (typeof value !== 'string') throw new Error(`Secret ${secretId} has no string value`);
  return value;
}
