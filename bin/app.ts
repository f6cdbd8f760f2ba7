import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AgentPipelineStack } from '../lib/agent-pipeline-stack.ts';

const app = new App();
const context = (key: string): string | undefined => app.node.tryGetContext(key) ?? undefined;

// Environment-agnostic on purpose: synthesizes offline, without an account or credentials.
new AgentPipelineStack(app, 'AgentPipeline', {
  description: 'Serverless provisioning pipeline for hosted AI agents',
  alarmEmail: context('alarmEmail'),
  githubRepository: context('githubRepository'),
  githubRef: context('githubRef'),
  domainPrefix: context('domainPrefix'),
});

// `cdk synth -c nag=true` fails on unacknowledged cdk-nag findings (test/infra runs the same checks).
if (context('nag') === 'true') Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
