import { type CfnResource, Stack } from 'aws-cdk-lib';

/**
 * How cdk-nag writes a reference to `resource` inside a granular finding id: `<LogicalId>` for a `Ref`,
 * `<LogicalId.Attribute>` for a `Fn::GetAtt`. Acknowledgments match finding ids exactly, so wildcard findings on
 * CDK-named resources (e.g. `AwsSolutions-IAM5[Resource::<Table1234.Arn>/index/*]`) are built with this.
 */
export function nagReference(resource: CfnResource, attribute?: string): string {
  const logicalId = Stack.of(resource).resolve(resource.logicalId) as string;
  return attribute ? `<${logicalId}.${attribute}>` : `<${logicalId}>`;
}
