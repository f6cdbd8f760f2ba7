/** Reading and changing the IAM side of the synthesized template, for suites that test local IAM enforcement. */
import { functionEntries, type CloudFormationTemplate } from '../../local/template.ts';

/** The logical id of the template function whose handler is `lambdas/<name>/`. */
export function functionId(template: CloudFormationTemplate, name: string): string {
  const found = Object.entries(functionEntries(template)).find(([, entry]) => entry.name === name);
  if (found === undefined) throw new Error(`No ${name} function in the template`);
  return found[0];
}

/** The logical id of the role a function or state machine runs as. */
export function roleOf(template: CloudFormationTemplate, logicalId: string): string {
  const properties = template.Resources[logicalId]?.Properties ?? {};
  return ((properties.Role ?? properties.RoleArn) as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
}

/**
 * A copy of `template` in which the role `roleLogicalId` no longer has `action`: on any resource, or only on the
 * resources that reference `onResource` (a logical id). Statements left empty are removed.
 */
export function revoke(
  template: CloudFormationTemplate,
  roleLogicalId: string,
  action: string,
  onResource?: string,
): CloudFormationTemplate {
  const copy = structuredClone(template) as CloudFormationTemplate;
  let revoked = 0;
  for (const resource of Object.values(copy.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = (resource.Properties?.Roles ?? []) as { Ref?: string }[];
    if (!roles.some((role) => role.Ref === roleLogicalId)) continue;
    const document = resource.Properties?.PolicyDocument as {
      Statement: { Action: string | string[]; Resource: unknown }[];
    };
    document.Statement = document.Statement.flatMap((statement) => {
      const actions = [statement.Action].flat();
      if (!actions.includes(action)) return [statement];
      const resources = [statement.Resource].flat();
      const kept =
        onResource === undefined
          ? []
          : resources.filter((candidate) => !JSON.stringify(candidate).includes(`"${onResource}"`));
      if (kept.length === resources.length) return [statement];
      revoked++;
      const otherActions = actions.filter((candidate) => candidate !== action);
      return [
        ...(otherActions.length > 0 ? [{ ...statement, Action: otherActions }] : []),
        ...(kept.length > 0 ? [{ ...statement, Action: action, Resource: kept }] : []),
      ];
    });
  }
  if (revoked === 0)
    throw new Error(`${roleLogicalId} has no ${action}${onResource ? ` on ${onResource}` : ''} to revoke`);
  return copy;
}

/** The error a promise rejects with. */
export async function rejectionOf(
  promise: Promise<unknown>,
): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('Expected the call to be refused');
}
