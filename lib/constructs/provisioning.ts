import { Duration, Validations } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
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
import { METRICS_NAMESPACE, PipelineFunction } from './lambda-function.ts';
import type { Observability } from './observability.ts';
import type { Secrets } from './secrets.ts';

/** Which workflow is dispatched, and where. */
export interface GitHubWorkflowTarget {
  /** `owner/repo` holding the workflow. */
  readonly repository: string;
  /** Branch or tag the workflow runs on. */
  readonly ref: string;
  /** @default 'provision-agent.yml' */
  readonly workflowFile?: string;
}

export interface ProvisioningProps {
  readonly data: Data;
  readonly secrets: Secrets;
  readonly observability: Observability;
  readonly github: GitHubWorkflowTarget;
}

/** Path of the provisioning ASL, relative to the repository root. */
export const PROVISION_ASL_PATH = 'state-machines/provision.asl.json';

/** Metadata key on the state machine resource naming its ASL file (repository-relative), read by the local runtime. */
export const DEFINITION_METADATA_KEY = 'agent-pipeline:definition';

/**
 * The provisioning state machine (`state-machines/provision.asl.json`) with the five functions its Task states call.
 * Alarms on failed and timed-out executions, on activations that gave up with the VM up (`ActivationFailed`) and on
 * rollbacks that gave up (`RollbackFailed`), both emitted by finish-job.
 */
export class Provisioning extends Construct {
  public readonly stateMachine: StateMachine;
  public readonly dispatchWorkflow: PipelineFunction;
  public readonly storeTaskToken: PipelineFunction;
  public readonly finishJob: PipelineFunction;
  public readonly rollback: PipelineFunction;
  public readonly checkRun: PipelineFunction;
  /** Where the provisioning workflow's runs are (`GITHUB_REPOSITORY`, `GITHUB_WORKFLOW_FILE`), for a function's environment. */
  public readonly workflowRuns: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: ProvisioningProps) {
    super(scope, id);
    const { data, secrets, observability } = props;
    // Rollback, check-run and the sweeper find a job's run among the workflow's runs; only the dispatch names a ref.
    const workflowRuns = (this.workflowRuns = {
      GITHUB_REPOSITORY: props.github.repository,
      GITHUB_WORKFLOW_FILE: props.github.workflowFile ?? 'provision-agent.yml',
    });

    this.dispatchWorkflow = new PipelineFunction(this, 'DispatchWorkflow', {
      name: 'dispatch-workflow',
      description: 'Dispatches the provisioning workflow and stores the start task token',
      timeout: Duration.seconds(30),
      environment: { ...workflowRuns, GITHUB_REF: props.github.ref },
      observability,
    })
      .useTable(data.table, 'readWrite')
      .useSecret('GITHUB_TOKEN_SECRET_ID', secrets.githubToken);

    this.storeTaskToken = new PipelineFunction(this, 'StoreTaskToken', {
      name: 'store-task-token',
      description: 'Stores the completion task token on the job',
      observability,
    }).useTable(data.table, 'readWrite');

    this.finishJob = new PipelineFunction(this, 'FinishJob', {
      name: 'finish-job',
      description: 'Records the outcome of a provisioning execution',
      observability,
    }).useTable(data.table, 'readWrite');

    this.rollback = new PipelineFunction(this, 'Rollback', {
      name: 'rollback',
      description: 'Deletes the cloud resources of a failed provisioning job',
      timeout: Duration.minutes(1),
      environment: workflowRuns,
      observability,
    })
      .useTable(data.table, 'read')
      .useSecret('GITHUB_TOKEN_SECRET_ID', secrets.githubToken)
      .useSecret('HETZNER_TOKEN_SECRET_ID', secrets.hetznerToken)
      .useSecret('TAILSCALE_TOKEN_SECRET_ID', secrets.tailscaleToken);

    this.checkRun = new PipelineFunction(this, 'CheckRun', {
      name: 'check-run',
      description: 'Asks GitHub how a provisioning run ended, and finds the VM of one that succeeded',
      timeout: Duration.minutes(1),
      environment: workflowRuns,
      observability,
    })
      .useTable(data.table, 'read')
      .useSecret('GITHUB_TOKEN_SECRET_ID', secrets.githubToken)
      .useSecret('HETZNER_TOKEN_SECRET_ID', secrets.hetznerToken)
      .useSecret('TAILSCALE_TOKEN_SECRET_ID', secrets.tailscaleToken);

    const logGroup = new LogGroup(this, 'StateMachineLogs', { retention: RetentionDays.ONE_MONTH });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromFile(fromRepoRoot(PROVISION_ASL_PATH)),
      definitionSubstitutions: {
        DispatchWorkflowFunctionArn: this.dispatchWorkflow.functionArn,
        StoreTaskTokenFunctionArn: this.storeTaskToken.functionArn,
        FinishJobFunctionArn: this.finishJob.functionArn,
        RollbackFunctionArn: this.rollback.functionArn,
        CheckRunFunctionArn: this.checkRun.functionArn,
      },
      tracingEnabled: true,
      // Execution data holds task tokens and customer data: keep it out of the logs.
      logs: { destination: logGroup, level: LogLevel.ALL, includeExecutionData: false },
    });
    // The definition is an S3 asset in the template: name its file so the local runtime runs the same ASL.
    (this.stateMachine.node.defaultChild as CfnStateMachine).addMetadata(DEFINITION_METADATA_KEY, PROVISION_ASL_PATH);
    // The unqualified ARNs the ASL names, and nothing else (grantInvoke would add every version and alias).
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [this.dispatchWorkflow, this.storeTaskToken, this.finishJob, this.rollback, this.checkRun].map(
          (fn) => fn.functionArn,
        ),
      }),
    );

    // When the workflow's final report arrived before the completion token was stored, store-task-token ends the wait
    // itself (settleCompletionWait): success or failure, never a heartbeat. A policy of its own, not the role's default
    // one: the function would otherwise depend on the state machine that invokes it (a dependency cycle).
    new Policy(this, 'StoreTaskTokenTaskResponse', {
      roles: [this.storeTaskToken.executionRole],
      statements: [
        new PolicyStatement({
          actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
          resources: [this.stateMachine.stateMachineArn],
        }),
      ],
    });

    Validations.of(this.stateMachine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Execution logging (logs:*LogDelivery*, logs:PutResourcePolicy, logs:Describe*) and X-Ray (xray:Put*, xray:GetSampling*) support no resource-level permissions.',
    });

    observability.addAlarm(this, 'ExecutionsFailedAlarm', {
      metric: this.stateMachine.metricFailed(),
      description: 'Provisioning executions failed',
    });
    observability.addAlarm(this, 'ExecutionsTimedOutAlarm', {
      metric: this.stateMachine.metricTimedOut(),
      description: 'Provisioning executions timed out',
    });
    const givingUp = {
      ActivationFailed:
        'An activation gave up: the VM of a job is up but its agent is not active (nothing was rolled back)',
      RollbackFailed: 'A rollback gave up: cloud resources of a failed job may still exist and cost money',
    };
    for (const [metricName, description] of Object.entries(givingUp)) {
      observability.addAlarm(this, `${metricName}Alarm`, {
        // Powertools Metrics adds the `service` dimension (POWERTOOLS_SERVICE_NAME of finish-job).
        metric: new Metric({
          namespace: METRICS_NAMESPACE,
          metricName,
          dimensionsMap: { service: 'finish-job' },
          statistic: 'Sum',
        }),
        description,
      });
    }
  }

  /** Tells dispatch-workflow the public URL the workflow posts its signed callbacks to. */
  sendCallbacksTo(callbackUrl: string): void {
    this.dispatchWorkflow.addEnvironment('CALLBACK_URL', callbackUrl);
  }
}
