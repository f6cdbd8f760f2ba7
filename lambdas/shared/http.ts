import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** A JSON response in the HTTP API v2 shape. */
export function json(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

/** The contract's error body: `{ error: { code, message } }`. Never carries a stack trace. */
export function errorResponse(
  statusCode: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return json(statusCode, { error: { code, message } }, headers);
}

/** The request body exactly as sent (signatures are computed over these bytes). */
export function rawBody(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded'>): Buffer {
  if (event.body === undefined) return Buffer.alloc(0);
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes as UTF-8 text. Throws a TypeError when they are not UTF-8: a lenient decode would replace them with U+FFFD and
 * store text the sender never wrote, so callers refuse such a body like invalid JSON.
 */
export function strictUtf8(bytes: Uint8Array): string {
  return STRICT_UTF8.decode(bytes);
}

/** The request body as text; throws when it is not UTF-8 (see `strictUtf8`). */
export function utf8Body(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded'>): string {
  return strictUtf8(rawBody(event));
}

/** A request header, case-insensitively (API Gateway lowercases them, tests and proxies may not). */
export function header(event: Pick<APIGatewayProxyEventV2, 'headers'>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}
