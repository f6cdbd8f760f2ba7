import { GetParameterError } from '@aws-lambda-powertools/parameters';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { ERROR_NAMES } from '../domain/error-names.ts';
import type { SecretFormat } from '../domain/secret-formats.ts';

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

/**
 * A secret whose value is not in its format: the deployment is misconfigured, not the caller wrong. The message names
 * the setting and the format, never the value.
 */
export class SecretFormatError extends Error {
  override readonly name = ERROR_NAMES.SecretMalformed;
  constructor(
    readonly setting: string,
    format: SecretFormat,
  ) {
    super(`The secret named by ${setting} is not ${format.description}`);
  }
}

/**
 * {@link secretValue}, checked against its format.
 * @throws SecretFormatError when the value is not in `format`
 */
export async function formattedSecret(setting: string, secretId: string, format: SecretFormat): Promise<string> {
  const value = await secretValue(secretId);
  if (!format.matches(value)) throw new SecretFormatError(setting, format);
  return value;
}
