import { Duration } from 'aws-cdk-lib';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { PROVISION_ASL_PATH } from '../metadata.ts';
import type { Data } from './data.ts';
import { PipelineFunction } from './lambda-function.ts';
import { type Observability, serviceMetric } from './observability.ts';
import { PipelineStateMachine } from './pipeline-state-machine.ts';
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

/**
 * The provisioning state machine (`state-machines/provision.asl.json`) with the five functions its Task states call.
 * Alarms on failed and timed-out executions, on activations that gave up with the VM up (`ActivationFailed`) and on
 * rollbacks that gave up (`RollbackFailed`), both emitted by finish-job.
 */
export class Provisioning extends Construct {
  public readonly stateMachine: PipelineStateMachine;
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

    // Rollback and check-run look up a job's run, server and device: read access and the three cloud tokens each.
    const cloudLookup = (id: string, name: string, description: string): PipelineFunction =>
      new PipelineFunction(this, id, {
        name,
        description,
        timeout: Duration.minutes(1),
        environment: workflowRuns,
        observability,
      })
        .useTable(data.table, 'read')
        .useSecret('GITHUB_TOKEN_SECRET_ID', secrets.githubToken)
        .useSecret('HETZNER_TOKEN_SECRET_ID', secrets.hetznerToken)
        .useSecret('TAILSCALE_TOKEN_SECRET_ID', secrets.tailscaleToken);
    this.rollback = cloudLookup('Rollback', 'rollback', 'Deletes the cloud resources of a failed provisioning job');
    this.checkRun = cloudLookup(
      'CheckRun',
      'check-run',
      'Asks GitHub how a provisioning run ended, and finds the VM of one that succeeded',
    );

    this.stateMachine = new PipelineStateMachine(this, 'StateMachine', {
      definitionPath: PROVISION_ASL_PATH,
      tasks: {
        DispatchWorkflowFunctionArn: this.dispatchWorkflow,
        StoreTaskTokenFunctionArn: this.storeTaskToken,
        FinishJobFunctionArn: this.finishJob,
        RollbackFunctionArn: this.rollback,
        CheckRunFunctionArn: this.checkRun,
      },
      arnEnvironmentVariable: 'PROVISION_STATE_MACHINE_ARN',
      observability,
      dashboardLabel: 'Provisioning',
      alarmDescriptions: {
        failed: 'Provisioning executions failed',
        timedOut: 'Provisioning executions timed out',
      },
    });

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

    const givingUp = {
      ActivationFailed:
        'An activation gave up: the VM of a job is up but its agent is not active (nothing was rolled back)',
      RollbackFailed: 'A rollback gave up: cloud resources of a failed job may still exist and cost money',
    } as const;
    for (const [metricName, description] of Object.entries(givingUp)) {
      observability.addAlarm(this, `${metricName}Alarm`, {
        metric: serviceMetric(metricName as keyof typeof givingUp),
        description,
      });
    }
  }

  /** Tells dispatch-workflow the public URL the workflow posts its signed callbacks to. */
  sendCallbacksTo(callbackUrl: string): void {
    this.dispatchWorkflow.addEnvironment('CALLBACK_URL', callbackUrl);
  }
}
