import { Duration, Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  type CfnStateMachine,
  DefinitionBody,
  LogLevel,
  StateMachine,
  StateMachineType,
} from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { fromRepoRoot } from '../paths.ts';
import type { Data } from './data.ts';
import { PipelineFunction } from './lambda-function.ts';
import type { Observability } from './observability.ts';
import { DEFINITION_METADATA_KEY } from './provisioning.ts';
import type { Secrets } from './secrets.ts';

export interface LifecycleProps {
  readonly data: Data;
  readonly secrets: Secrets;
  readonly observability: Observability;
}

/** Path of the lifecycle ASL, relative to the repository root. */
export const LIFECYCLE_ASL_PATH = 'state-machines/lifecycle.asl.json';

/**
 * The lifecycle state machine (`state-machines/lifecycle.asl.json`): stop, start and destroy of an agent, each a
 * branch that runs the power-action function, which also records an action that failed for good on the agent (its
 * table access covers that: no extra function or permission). Alarms on failed and timed-out executions (a failed
 * action's reason is on the agent; a VM a failed destroy left behind needs a person).
 */
export class Lifecycle extends Construct {
  public readonly stateMachine: StateMachine;
  public readonly powerAction: PipelineFunction;

  constructor(scope: Construct, id: string, props: LifecycleProps) {
    super(scope, id);
    const { data, secrets, observability } = props;

    this.powerAction = new PipelineFunction(this, 'PowerAction', {
      name: 'power-action',
      description:
        'Powers an agent VM off or on, or cancels its subscription and deletes it and its Tailscale device; records an action that failed for good',
      // Power actions are polled to completion within one invocation.
      timeout: Duration.minutes(2),
      observability,
    })
      .useTable(data.table, 'readWrite')
      .useSecret('HETZNER_TOKEN_SECRET_ID', secrets.hetznerToken)
      .useSecret('TAILSCALE_TOKEN_SECRET_ID', secrets.tailscaleToken)
      // A destroy cancels the agent's subscription (I1). STRIPE_API_URL is left to its default, Stripe's own.
      .useSecret('STRIPE_SECRET_KEY_ID', secrets.stripeSecretKey);

    const logGroup = new LogGroup(this, 'StateMachineLogs', { retention: RetentionDays.ONE_MONTH });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromFile(fromRepoRoot(LIFECYCLE_ASL_PATH)),
      definitionSubstitutions: { PowerActionFunctionArn: this.powerAction.functionArn },
      timeout: Duration.hours(1),
      tracingEnabled: true,
      logs: { destination: logGroup, level: LogLevel.ALL, includeExecutionData: false },
    });
    (this.stateMachine.node.defaultChild as CfnStateMachine).addMetadata(DEFINITION_METADATA_KEY, LIFECYCLE_ASL_PATH);
    // The unqualified ARN the ASL names, and nothing else (grantInvoke would add every version and alias).
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.powerAction.functionArn] }),
    );
    Validations.of(this.stateMachine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Execution logging (logs:*LogDelivery*, logs:PutResourcePolicy, logs:Describe*) and X-Ray (xray:Put*, xray:GetSampling*) support no resource-level permissions.',
    });

    observability.addAlarm(this, 'ExecutionsFailedAlarm', {
      metric: this.stateMachine.metricFailed(),
      description:
        'Lifecycle executions failed: a stop, start or destroy failed after its retries (reason recorded on the agent)',
    });
    observability.addAlarm(this, 'ExecutionsTimedOutAlarm', {
      metric: this.stateMachine.metricTimedOut(),
      description: 'Lifecycle executions timed out',
    });
  }

  /** Sets `LIFECYCLE_STATE_MACHINE_ARN` on `fn` and grants it starting executions of the lifecycle state machine. */
  grantStart(fn: PipelineFunction): void {
    fn.addEnvironment('LIFECYCLE_STATE_MACHINE_ARN', this.stateMachine.stateMachineArn);
    this.stateMachine.grantStartExecution(fn);
  }
}
