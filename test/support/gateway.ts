/**
 * The template's HTTP and WebSocket APIs on a local gateway, for suites that wire a few handlers to local endpoints
 * themselves rather than start the whole local stack: the run's synthesized template, its functions imported on first
 * invocation, the dev issuer, quiet logs. Typical use:
 *
 * ```ts
 * beforeAll(async () => {
 *   gateway = await startTemplateGateway();
 *   process.env.TABLE_NAME = tables.tableName; // and whatever else the suite's handlers read, before their first call
 * });
 * ```
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { inject } from 'vitest';
import { createDevAuth } from '../../local/dev-auth.ts';
import { routesFromTemplate, startGateway, type Gateway } from '../../local/gateway/index.ts';
import { handlerLoader } from '../../local/template.ts';

/** The app client the dev issuer signs tokens for, and the authorizers accept. */
export const TEST_CLIENT_ID = 'dashboard-test-client';

/**
 * Starts the gateway on a free port and sets what the authorizers read at load (`JWT_ISSUER`, `JWT_CLIENT_ID`), so
 * tokens from `gateway.devAuth` pass them. Handler logs are errors only.
 */
export async function startTemplateGateway(): Promise<Gateway> {
  const template = inject('template');
  const handlerOf = handlerLoader(template);
  const gateway = await startGateway({
    port: 0,
    routes: routesFromTemplate(template),
    invoke: async (logicalId, event, context) => (await handlerOf(logicalId))(event, context),
    devAuth: (urls) => createDevAuth({ issuer: urls.url, clientId: TEST_CLIENT_ID }),
    logger: new Logger({ serviceName: 'local-gateway', logLevel: 'ERROR' }),
  });
  Object.assign(process.env, {
    JWT_ISSUER: gateway.url,
    JWT_CLIENT_ID: TEST_CLIENT_ID,
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  });
  return gateway;
}
