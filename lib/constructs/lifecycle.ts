import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { LIFECYCLE_ASL_PATH } from '../metadata.ts';
import type { Data } from './data.ts';
import { PipelineFunction } from './lambda-function.ts';
import type { Observability } from './observability.ts';
import { PipelineStateMachine } from './pipeline-state-machine.ts';
import type { Secrets } from './secrets.ts';

export interface LifecycleProps {
  readonly data: Data;
  readonly secrets: Secrets;
  readonly observability: Observability;
}

/**
 * The lifecycle state machine (`state-machines/lifecycle.asl.json`): stop, start and destroy of an agent, each a
 * branch that runs the power-action function, which also records an action that failed for good on the agent (its
 * table access covers that: no extra function or permission). Alarms on failed and timed-out executions (a failed
 * action's reason is on the agent; a VM a failed destroy left behind needs a person).
 */
export class Lifecycle extends Construct {
  public readonly stateMachine: PipelineStateMachine;
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

    this.stateMachine = new PipelineStateMachine(this, 'StateMachine', {
      definitionPath: LIFECYCLE_ASL_PATH,
      tasks: { PowerActionFunctionArn: this.powerAction },
      arnEnvironmentVariable: 'LIFECYCLE_STATE_MACHINE_ARN',
      observability,
      dashboardLabel: 'Lifecycle',
      alarmDescriptions: {
        failed:
          'Lifecycle executions failed: a stop, start or destroy failed after its retries (reason recorded on the agent)',
        timedOut: 'Lifecycle executions timed out',
      },
    });
  }
}
