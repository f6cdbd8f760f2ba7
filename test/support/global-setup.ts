/**
 * Vitest global setup of the integration and e2e projects: one in-memory DynamoDB Local, one synthesized template and
 * one build of the dashboard (served by every local stack the suites start) for the whole run. Suites read them with `inject('dynamoEndpoint')` / `inject('template')`; AWS SDK clients created
 * without an endpoint reach DynamoDB Local through the standard `AWS_ENDPOINT_URL_*` variables set here.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import type { TestProject } from 'vitest/node';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb.ts';
import { synthesizeTemplate, type CloudFormationTemplate } from '../../local/template.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `http://127.0.0.1:<port>` of the run's DynamoDB Local. */
    dynamoEndpoint: string;
    /** The synthesized `AgentPipeline` template. */
    template: CloudFormationTemplate;
  }
}

interface SharedResources {
  users: number;
  readonly ready: Promise<{ readonly dynamoDb: DynamoDbLocal; readonly template: CloudFormationTemplate }>;
}

// Both projects run this setup in the same process; they share one DynamoDB Local (the env variables are
// process-wide, so two instances would point some workers at the wrong one). The last teardown stops it.
const SHARED = Symbol.for('agent-pipeline.test.global-setup');
const registry = globalThis as { [SHARED]?: SharedResources };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = (registry[SHARED] ??= { users: 0, ready: startSharedResources() });
  shared.users++;
  const { dynamoDb, template } = await shared.ready;
  project.provide('dynamoEndpoint', dynamoDb.endpoint);
  project.provide('template', template);

  return async () => {
    if (--shared.users > 0) return;
    delete registry[SHARED];
    await dynamoDb.stop();
  };
}

async function startSharedResources(): Promise<Awaited<SharedResources['ready']>> {
  const [started, synthesized, built] = await Promise.allSettled([
    startDynamoDbLocal(),
    synthesizeTemplate(),
    buildDashboard(),
  ]);
  if (started.status === 'rejected' || synthesized.status === 'rejected' || built.status === 'rejected') {
    if (started.status === 'fulfilled') await started.value.stop();
    throw [started, synthesized, built].flatMap((result) => (result.status === 'rejected' ? [result.reason] : []))[0];
  }
  const [dynamoDb, template] = [started.value, synthesized.value];
  // Workers are forked after global setup and inherit these.
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: dynamoDb.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB_STREAMS: dynamoDb.endpoint,
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
  });
  return { dynamoDb, template };
}

/** Builds `frontend/dist` once, before any suite starts a stack that serves it. */
async function buildDashboard(): Promise<void> {
  await build({
    configFile: fileURLToPath(new URL('../../frontend/vite.config.ts', import.meta.url)),
    logLevel: 'warn',
  });
}
