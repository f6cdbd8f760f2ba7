import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import { CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** AWS's managed policy for API Gateway's account-level logging role. */
export const API_GATEWAY_LOGS_POLICY = 'service-role/AmazonAPIGatewayPushToCloudWatchLogs';

/**
 * API Gateway's account settings in this region: the CloudWatch Logs role that the WebSocket stage's access logging
 * needs (CloudFormation refuses such a stage with "CloudWatch Logs role ARN must be set in account settings to enable
 * logging" until it is set; HTTP APIs do not need it). **Account-wide**: it is one setting per account and region, for
 * every REST and WebSocket API there, so deploying this replaces a role set before. A deploy setting
 * (`-c apiGatewayCloudWatchRole=false`) leaves an existing one alone (README, "Deploy to AWS").
 *
 * Role and setting are retained when the stack is deleted, as CDK's own RestApi does: deleting the role would leave the
 * account pointing at a role that no longer exists, and every other API's logging in the region would stop.
 */
export class ApiGatewayAccount extends Construct {
  public readonly role: Role;
  public readonly account: CfnAccount;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    this.role = new Role(this, 'CloudWatchRole', {
      description: "API Gateway's account-level role for writing execution and access logs (account-wide setting)",
      assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName(API_GATEWAY_LOGS_POLICY)],
    });
    this.role.applyRemovalPolicy(RemovalPolicy.RETAIN);
    this.account = new CfnAccount(this, 'Account', { cloudWatchRoleArn: this.role.roleArn });
    this.account.applyRemovalPolicy(RemovalPolicy.RETAIN);

    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${API_GATEWAY_LOGS_POLICY}]`,
      reason:
        "AWS's managed policy made for this one role: API Gateway writes the logs of every API of the account and region through it, to log groups it creates and names itself, so no narrower resource list exists.",
    });
  }
}
