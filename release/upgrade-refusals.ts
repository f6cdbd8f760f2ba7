/**
 * What an update from one template to the next would be refused for, or would lose data by, read offline with the
 * CDK's own template diff (`@aws-cdk/cloudformation-diff`, which knows from the CloudFormation resource specification
 * which property changes replace a resource). docs/OPERATIONS.md, "Upgrading a deployed stack", says what to do with
 * each finding.
 */
import { fileURLToPath } from 'node:url';
import { fullDiff, type ResourceDifference, ResourceImpact } from '@aws-cdk/cloudformation-diff';

/** The template of the last release: what a deployed stack is upgraded from (refreshed by `npm run release:baseline`). */
export const RELEASE_TEMPLATE = fileURLToPath(new URL('AgentPipeline.template.json', import.meta.url));

/** The resources that hold data or identities: replacing or removing one loses what it holds. */
export const STATEFUL_TYPES = [
  'AWS::DynamoDB::Table',
  'AWS::Cognito::UserPool',
  'AWS::S3::Bucket',
  'AWS::SecretsManager::Secret',
  'AWS::KMS::Key',
] as const;

/**
 * Properties the resource specification does not mark as replacing, but whose change the service refuses: the update
 * fails (KMS: "If you change the value of the KeySpec, KeyUsage, Origin, or MultiRegion properties of an existing KMS
 * key, the update request fails", AWS::KMS::Key in the CloudFormation template reference) or needs a new resource
 * (Cognito, "Settings you can't change" in the Cognito developer guide: sign-in attributes, case sensitivity, and the
 * attribute schema, whose attributes can be added but not changed or removed).
 */
const IMMUTABLE_PROPERTIES: Readonly<Record<string, readonly string[]>> = {
  'AWS::KMS::Key': ['KeySpec', 'KeyUsage', 'Origin', 'MultiRegion'],
  'AWS::Cognito::UserPool': ['UsernameAttributes', 'AliasAttributes', 'UsernameConfiguration'],
};

/** The attributes of a user pool's schema that an update changes or removes (adding one is allowed). */
function schemaAttributesChanged(before: unknown, after: unknown): string[] {
  const byName = (schema: unknown) =>
    new Map(((schema ?? []) as { Name: string }[]).map((attribute) => [attribute.Name, JSON.stringify(attribute)]));
  const next = byName(after);
  return [...byName(before)].filter(([name, attribute]) => next.get(name) !== attribute).map(([name]) => name);
}

export interface UpgradeRefusal {
  readonly logicalId: string;
  readonly type: string;
  readonly reason: string;
}

type Template = Record<string, unknown>;
type IndexDefinition = { IndexName: string; KeySchema?: unknown; Projection?: unknown };

/**
 * The global secondary index operations an update of a table needs: one per index created or deleted, two for an
 * index whose keys or projection change (DynamoDB updates neither in place: the index is deleted and created again).
 * DynamoDB's UpdateTable creates or deletes one index per call, and CloudFormation refuses an update that needs more.
 */
export function indexOperations(before: readonly IndexDefinition[], after: readonly IndexDefinition[]): string[] {
  const byName = (indexes: readonly IndexDefinition[]) => new Map(indexes.map((index) => [index.IndexName, index]));
  const old = byName(before);
  const next = byName(after);
  const operations: string[] = [];
  for (const [name, index] of next) {
    const previous = old.get(name);
    if (previous === undefined) operations.push(`create ${name}`);
    else if (
      JSON.stringify([previous.KeySchema, previous.Projection]) !== JSON.stringify([index.KeySchema, index.Projection])
    )
      operations.push(`delete ${name}`, `create ${name}`);
  }
  for (const name of old.keys()) if (!next.has(name)) operations.push(`delete ${name}`);
  return operations;
}

const isStateful = (type: string | undefined): boolean =>
  (STATEFUL_TYPES as readonly (string | undefined)[]).includes(type);

function refusalOf(change: ResourceDifference): string | undefined {
  const type = change.oldResourceType ?? change.newResourceType;
  if (isStateful(type)) {
    if (change.isRemoval)
      return change.changeImpact === ResourceImpact.WILL_ORPHAN
        ? 'removed from the stack (retained, so orphaned: a new one starts empty if it comes back under another id)'
        : 'removed from the stack: deleted with its data';
    if (change.resourceTypeChanged) return `changes type to ${change.newResourceType}: replaced`;
    if (change.changeImpact === ResourceImpact.WILL_REPLACE || change.changeImpact === ResourceImpact.MAY_REPLACE) {
      const causes = Object.entries(change.propertyUpdates)
        .filter(([, property]) =>
          [ResourceImpact.WILL_REPLACE, ResourceImpact.MAY_REPLACE].includes(property.changeImpact as ResourceImpact),
        )
        .map(([name]) => name);
      const certainty = change.changeImpact === ResourceImpact.WILL_REPLACE ? 'replaced' : 'may be replaced';
      return `${certainty} (a new, empty resource) by a change of ${causes.join(', ') || 'its definition'}`;
    }
  }
  if (!change.isUpdate) return undefined;
  const immutable = (IMMUTABLE_PROPERTIES[type ?? ''] ?? []).filter((name) => name in change.propertyUpdates);
  if (immutable.length > 0) return `changes ${immutable.join(', ')}, which cannot change after creation: refused`;
  if (type === 'AWS::Cognito::UserPool') {
    const attributes = schemaAttributesChanged(change.oldProperties?.Schema, change.newProperties?.Schema);
    if (attributes.length > 0)
      return `changes or removes schema attributes (${attributes.join(', ')}), which a user pool cannot: refused`;
  }
  if (type === 'AWS::DynamoDB::Table') {
    const operations = indexOperations(
      (change.oldProperties?.GlobalSecondaryIndexes ?? []) as IndexDefinition[],
      (change.newProperties?.GlobalSecondaryIndexes ?? []) as IndexDefinition[],
    );
    if (operations.length > 1)
      return `needs ${operations.length} global secondary index operations in one update (${operations.join(', ')}); CloudFormation allows one index created or deleted per update`;
  }
  return undefined;
}

/** Every refusal of an update of the stack deployed from `deployed` to `next`, by logical id. */
export function upgradeRefusals(deployed: Template, next: Template): UpgradeRefusal[] {
  const refusals: UpgradeRefusal[] = [];
  fullDiff(deployed, next).resources.forEachDifference((logicalId, change) => {
    const reason = refusalOf(change);
    if (reason !== undefined)
      refusals.push({ logicalId, type: (change.oldResourceType ?? change.newResourceType)!, reason });
  });
  return refusals;
}
