import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** The AWS Control Tower proactive controls that `@cdklabs/cdk-validator-cfnguard` checks the template against. */
export type GuardRule =
  | 'api_gw_v2_authorization_type_configured_check'
  | 'cloudfront_custom_ssl_certificate_check'
  | 'cloudfront_origin_failover_enabled_check'
  | 'cloudfront_security_policy_check'
  | 'cloudfront_sni_enabled_check'
  | 'cloudwatch_log_group_encrypted_check'
  | 'cloudwatch_log_group_retention_period_check'
  | 'kms_create_grant_aws_service_check'
  | 'lambda_function_public_access_prohibited_check'
  | 'lambda_inside_vpc_check'
  | 's3_bucket_acl_prohibited_check'
  | 's3_bucket_default_encryption_kms_check'
  | 's3_bucket_logging_enabled_check'
  | 's3_bucket_object_lock_enabled_check'
  | 's3_bucket_versioning_enabled_check'
  | 's3_event_notifications_enabled_check'
  | 's3_lifecycle_policy_check'
  | 'sqs_dlq_check';

/**
 * Acknowledges a Control Tower guard rule for `scope` and everything in it, with the reason it does not apply there.
 * test/infra/cfn-guard.test.ts fails on any finding that is not acknowledged.
 */
export function acknowledgeGuardRule(scope: IConstruct, rule: GuardRule, reason: string): void {
  Validations.of(scope).acknowledge({ id: `cdk-validator-cfnguard::${rule}`, reason });
}
