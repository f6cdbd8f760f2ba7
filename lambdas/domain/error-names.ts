/**
 * The names of the errors the functions throw or end a state machine's wait with. They cross the state machines'
 * boundary: the ASL's Retry and Catch match them in `ErrorEquals`, finish-job reads them back from a caught error, and
 * they are what an execution's history and the alarms' records show. One catalogue, so that a rename cannot leave
 * the ASL matching a name nothing throws (test/unit/error-names.test.ts reads both state machines).
 */
export const ERROR_NAMES = {
  /** GitHub refused the dispatch with an answer that will not change on retry, or the agent is gone. */
  DispatchRefused: 'DispatchRefused',
  /** A failed workflow ends the provisioning wait with it (SendTaskFailure); the ASL's Catch routes it to rollback. */
  WorkflowFailed: 'WorkflowFailed',
  /**
   * A cancelled provisioning ends its wait with it. The ASL names it nowhere on purpose: like any unnamed error of a
   * wait it leads to CheckRun, which finds the job failed already, so a cancel and a failure share one rollback path.
   */
  ProvisioningCancelled: 'ProvisioningCancelled',
  /** The job could not be activated (missing or already failed): the state machine rolls back. */
  JobNotActivated: 'JobNotActivated',
  /** A task's input failed its schema; caught like any failure (`States.ALL`). */
  InvalidTaskInput: 'InvalidTaskInput',
  /** An outside API kept failing (5xx, 429, network) after the retries. */
  ApiUnavailable: 'ApiUnavailable',
  /** Rollback could not remove one or more resources. */
  RollbackIncomplete: 'RollbackIncomplete',
  /** Hetzner reported a power action failed, or it did not finish in time. */
  PowerActionFailed: 'PowerActionFailed',
  /** A job that must be live (queued or provisioning) is missing or already finished. */
  JobNotLive: 'JobNotLive',
  /** The Stripe secret key was not pasted into its secret yet. */
  StripeKeyMissing: 'StripeKeyMissing',
  /** A secret's value is not in its format (lambdas/domain/secret-formats.ts): the deployment is misconfigured. */
  SecretMalformed: 'SecretMalformed',
} as const;

export type ErrorName = (typeof ERROR_NAMES)[keyof typeof ERROR_NAMES];
