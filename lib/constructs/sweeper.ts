import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type { CfnStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { nagReference } from '../nag.ts';
import type { Data } from './data.ts';
import { FailureQueue } from './failure-queue.ts';
import { PipelineFunction } from './lambda-function.ts';
import type { Observability } from './observability.ts';
import type { PipelineStateMachine } from './pipeline-state-machine.ts';
import type { Secrets } from './secrets.ts';

export interface SweeperProps {
  readonly data: Data;
  readonly secrets: Secrets;
  readonly observability: Observability;
  readonly provisioning: PipelineStateMachine;
  /** Where the provisioning workflow's runs are (Provisioning.workflowRuns): asked how a run ended (I4). */
  readonly workflowRuns: Readonly<Record<string, string>>;
  readonly lifecycle: PipelineStateMachine;
}

/**
 * Every 15 minutes, repairs agents past their deadline (found through the sparse GSI3, never a scan: the function's
 * role has no `dynamodb:Scan`): starts the execution an intent still misses, or settles an agent whose execution ended
 * without settling it (a provisioning one only after GitHub, Hetzner and Tailscale say its VM did not come up: I4).
 * Deletes Hetzner servers and Tailscale devices of jobs that are over.
 */
export class Sweeper extends Construct {
  public readonly function: PipelineFunction;

  constructor(scope: Construct, id: string, props: SweeperProps) {
    super(scope, id);
    const { data, secrets, observability } = props;

    this.function = new PipelineFunction(this, 'Function', {
      name: 'sweeper',
      description: 'Repairs agents past their deadline; deletes servers and devices of finished jobs',
      timeout: Duration.minutes(2),
      environment: props.workflowRuns,
      observability,
    })
      .useTable(data.table, 'keyedReadWrite')
      .useSecret('GITHUB_TOKEN_SECRET_ID', secrets.githubToken)
      .useSecret('HETZNER_TOKEN_SECRET_ID', secrets.hetznerToken)
      .useSecret('TAILSCALE_TOKEN_SECRET_ID', secrets.tailscaleToken);
    props.provisioning.grantStartTo(this.function);
    props.lifecycle.grantStartTo(this.function);
    // Executions of these state machines only; built from their names so the resources stay readable.
    for (const stateMachine of [props.provisioning, props.lifecycle]) {
      const executionArn = Stack.of(this).formatArn({
        service: 'states',
        resource: 'execution',
        resourceName: `${stateMachine.stateMachineName}:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      this.function.addToRolePolicy(
        new PolicyStatement({ actions: ['states:DescribeExecution'], resources: [executionArn] }),
      );
      Validations.of(this.function.executionRole).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${nagReference(stateMachine.node.defaultChild as CfnStateMachine, 'Name')}:*]`,
        reason: 'Execution names are chosen at run time; the grant covers executions of this one state machine only.',
      });
    }

    const failures = new FailureQueue(this, 'Failures', {
      observability,
      description: 'Sweeper runs failed after their retries',
      label: 'sweeper',
    });
    // A run that fails is retried twice; the next scheduled run starts fresh, so older events are worthless.
    this.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.minutes(15),
      onFailure: new SqsDestination(failures.queue),
    });
    new Rule(this, 'Schedule', {
      description: 'Runs the sweeper',
      schedule: Schedule.rate(Duration.minutes(15)),
      targets: [
        new LambdaFunction(this.function, {
          retryAttempts: 2,
          maxEventAge: Duration.minutes(15),
          deadLetterQueue: failures.queue,
        }),
      ],
    });
  }
}
