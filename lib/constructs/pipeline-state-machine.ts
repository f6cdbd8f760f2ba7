import { readFileSync } from 'node:fs';
import { Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  type CfnStateMachine,
  DefinitionBody,
  LogLevel,
  StateMachine,
  StateMachineType,
} from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { DEFINITION_METADATA_KEY } from '../metadata.ts';
import { fromRepoRoot } from '../paths.ts';
import type { PipelineFunction } from './lambda-function.ts';
import type { Observability } from './observability.ts';

export interface PipelineStateMachineProps {
  /** Repository-relative ASL file (`lib/metadata.ts`), loaded as is and named in the resource's metadata. */
  readonly definitionPath: string;
  /**
   * The functions the ASL's Task states invoke, by the substitution that names each (`DispatchWorkflowFunctionArn`
   * for `${DispatchWorkflowFunctionArn}`). Every placeholder of the file must be here, and nothing else.
   */
  readonly tasks: Readonly<Record<string, IFunction>>;
  /** Environment variable that carries the state machine's ARN to a function it is granted to ({@link grantStartTo}). */
  readonly arnEnvironmentVariable: `${string}_STATE_MACHINE_ARN`;
  /** Receives the alarms on failed and timed-out executions. */
  readonly observability: Observability;
  /** Names its executions on the dashboard's graph, e.g. `Provisioning`. */
  readonly dashboardLabel: string;
  /** Alarm descriptions: what a failed and a timed-out execution mean. */
  readonly alarmDescriptions: { readonly failed: string; readonly timedOut: string };
}

/**
 * A standard state machine of the pipeline, defined by an ASL file in `state-machines/` (the same file the local runtime
 * runs): X-Ray tracing, its own log group (1 month) without execution data (it holds task tokens and customer data),
 * a role that may invoke exactly the functions the ASL names, alarms on failed and timed-out executions, and its
 * executions on the dashboard. An execution timeout is the file's own `TimeoutSeconds`: CDK's `timeout` property
 * applies only to definitions built in code, and on a file definition it would set nothing.
 * The log group (`<id>Logs`) and the alarms (`ExecutionsFailedAlarm`, `ExecutionsTimedOutAlarm`) are created beside it
 * in `scope`, one state machine per scope.
 */
export class PipelineStateMachine extends StateMachine {
  private readonly arnEnvironmentVariable: string;

  constructor(scope: Construct, id: string, props: PipelineStateMachineProps) {
    const placeholders = new Set(
      [...readFileSync(fromRepoRoot(props.definitionPath), 'utf8').matchAll(/\$\{(\w+)\}/g)].map((match) => match[1]),
    );
    const named = Object.keys(props.tasks);
    if (placeholders.size !== named.length || !named.every((name) => placeholders.has(name))) {
      throw new Error(
        `${props.definitionPath} names ${[...placeholders].sort().join(', ')}; the tasks given are ${named.sort().join(', ')}`,
      );
    }

    const logGroup = new LogGroup(scope, `${id}Logs`, { retention: RetentionDays.ONE_MONTH });
    super(scope, id, {
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromFile(fromRepoRoot(props.definitionPath)),
      definitionSubstitutions: Object.fromEntries(
        Object.entries(props.tasks).map(([name, fn]) => [name, fn.functionArn]),
      ),
      tracingEnabled: true,
      logs: { destination: logGroup, level: LogLevel.ALL, includeExecutionData: false },
    });
    this.arnEnvironmentVariable = props.arnEnvironmentVariable;

    // The definition is an S3 asset in the template: name its file so the local runtime runs the same ASL.
    (this.node.defaultChild as CfnStateMachine).addMetadata(DEFINITION_METADATA_KEY, props.definitionPath);
    // The unqualified ARNs the ASL names, and nothing else (grantInvoke would add every version and alias).
    this.addToRolePolicy(
      new PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: Object.values(props.tasks).map((fn) => fn.functionArn),
      }),
    );
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Execution logging (logs:*LogDelivery*, logs:PutResourcePolicy, logs:Describe*) and X-Ray (xray:Put*, xray:GetSampling*) support no resource-level permissions.',
    });

    props.observability.addAlarm(scope, 'ExecutionsFailedAlarm', {
      metric: this.metricFailed(),
      description: props.alarmDescriptions.failed,
    });
    props.observability.addAlarm(scope, 'ExecutionsTimedOutAlarm', {
      metric: this.metricTimedOut(),
      description: props.alarmDescriptions.timedOut,
    });
    const label = props.dashboardLabel;
    props.observability.showOnDashboard(
      'executions',
      this.metricStarted({ label: `${label} started` }),
      this.metricSucceeded({ label: `${label} succeeded` }),
      this.metricFailed({ label: `${label} failed` }),
      this.metricTimedOut({ label: `${label} timed out` }),
    );
  }

  /** Sets the state machine's ARN variable on `fn` and grants it starting executions: how a function starts one. */
  grantStartTo(fn: PipelineFunction): void {
    fn.addEnvironment(this.arnEnvironmentVariable, this.stateMachineArn);
    this.grantStartExecution(fn);
  }
}
