import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AgentPipelineStack } from '../lib/agent-pipeline-stack.ts';
import { stackPropsFromContext } from '../lib/deploy-config.ts';

const app = new App();
const context = (key: string): unknown => app.node.tryGetContext(key);

// Environment-agnostic on purpose: synthesizes offline, without an account or credentials.
new AgentPipelineStack(app, 'AgentPipeline', {
  description: 'Serverless provisioning pipeline for hosted AI agents',
  ...stackPropsFromContext(context),
});

// `cdk synth -c nag=true` fails on unacknowledged cdk-nag findings (test/infra runs the same checks).
if (context('nag') === 'true') Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
