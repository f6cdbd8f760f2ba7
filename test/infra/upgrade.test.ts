/**
 * An update of a deployed stack to this checkout's template is one CloudFormation accepts and that keeps every
 * resource holding data: read offline with the CDK's own template diff (release/upgrade-refusals.ts) from the last
 * release's template (release/AgentPipeline.template.json). docs/OPERATIONS.md, "Upgrading a deployed stack".
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { synthesizeTemplate } from '../../local/template.ts';
import { fromRepoRoot } from '../../lib/paths.ts';
import { indexOperations, RELEASE_TEMPLATE, upgradeRefusals } from '../../release/upgrade-refusals.ts';

type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> };
const readTemplate = (file: string): Template => JSON.parse(readFileSync(file, 'utf8'));

let next: Template;
beforeAll(async () => {
  next = (await synthesizeTemplate()) as unknown as Template;
});

/** The logical id of the one resource of `type` in `template`, or of the one whose id starts with `prefix`. */
function idOf(template: Template, type: string, prefix = ''): string {
  const ids = Object.entries(template.Resources)
    .filter(([id, resource]) => resource.Type === type && id.startsWith(prefix))
    .map(([id]) => id);
  if (ids.length !== 1) throw new Error(`expected one ${type} ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0]!;
}

/** This checkout's template with `change` applied to a copy. */
function changed(change: (template: Template) => void): Template {
  const copy = structuredClone(next);
  change(copy);
  return copy;
}

const reasonsOf = (deployed: Template, updated: Template) =>
  upgradeRefusals(deployed, updated).map(({ logicalId, reason }) => `${logicalId}: ${reason}`);

describe('upgrading a deployed stack', () => {
  it('from the last release: nothing refused, nothing holding data replaced or removed', () => {
    expect(reasonsOf(readTemplate(RELEASE_TEMPLATE), next)).toEqual([]);
  });

  const beforeGsi3 = () => readTemplate(fromRepoRoot('test/infra/fixtures/agent-pipeline-6b0db8f.template.json'));

  it('from the template before GSI3 and JobsByTime (commit 6b0db8f): refused, both indexes in one update', () => {
    const table = idOf(beforeGsi3(), 'AWS::DynamoDB::Table');
    expect(reasonsOf(beforeGsi3(), next)).toEqual([
      `${table}: needs 2 global secondary index operations in one update (create GSI3, create JobsByTime); CloudFormation allows one index created or deleted per update`,
    ]);
  });

  it("from there in two deploys, as docs/OPERATIONS.md says: commit a3fbeb5 (GSI3), then this checkout's", () => {
    const withGsi3 = readTemplate(fromRepoRoot('test/infra/fixtures/agent-pipeline-a3fbeb5.template.json'));
    expect(reasonsOf(beforeGsi3(), withGsi3)).toEqual([]);
    expect(reasonsOf(withGsi3, next)).toEqual([]);
  });
});

describe('what the check refuses, each on a change of this checkout template', () => {
  const table = () => idOf(next, 'AWS::DynamoDB::Table');
  const indexes = (template: Template) =>
    template.Resources[idOf(template, 'AWS::DynamoDB::Table')]!.Properties!.GlobalSecondaryIndexes as any[];

  it('two indexes deleted in one update', () => {
    const updated = changed((t) => {
      t.Resources[table()]!.Properties!.GlobalSecondaryIndexes = indexes(t).filter(
        (index) => !['GSI1', 'GSI2'].includes(index.IndexName),
      );
    });
    expect(reasonsOf(next, updated)).toEqual([
      `${table()}: needs 2 global secondary index operations in one update (delete GSI1, delete GSI2); CloudFormation allows one index created or deleted per update`,
    ]);
  });

  it("an index's keys changed: deleted and created again, two operations", () => {
    const updated = changed((t) => {
      const gsi1 = indexes(t).find((index) => index.IndexName === 'GSI1');
      gsi1.KeySchema = [gsi1.KeySchema[0]];
    });
    expect(reasonsOf(next, updated)).toEqual([
      `${table()}: needs 2 global secondary index operations in one update (delete GSI1, create GSI1); CloudFormation allows one index created or deleted per update`,
    ]);
  });

  it('but one index created or deleted is an update CloudFormation makes', () => {
    const withoutGsi2 = changed((t) => {
      t.Resources[table()]!.Properties!.GlobalSecondaryIndexes = indexes(t).filter((i) => i.IndexName !== 'GSI2');
    });
    expect(reasonsOf(next, withoutGsi2)).toEqual([]);
    expect(reasonsOf(withoutGsi2, next)).toEqual([]);
    expect(indexOperations([{ IndexName: 'A' }], [{ IndexName: 'A', Projection: { ProjectionType: 'ALL' } }])).toEqual([
      'delete A',
      'create A',
    ]);
  });

  it('the table replaced: a new key schema', () => {
    const updated = changed((t) => {
      t.Resources[table()]!.Properties!.KeySchema = [{ AttributeName: 'PK', KeyType: 'HASH' }];
    });
    expect(reasonsOf(next, updated)).toEqual([`${table()}: replaced (a new, empty resource) by a change of KeySchema`]);
  });

  it('a bucket replaced: a new name', () => {
    const bucket = idOf(next, 'AWS::S3::Bucket', 'DashboardSite');
    const updated = changed((t) => {
      t.Resources[bucket]!.Properties!.BucketName = 'agent-pipeline-dashboard';
    });
    expect(reasonsOf(next, updated)).toEqual([`${bucket}: replaced (a new, empty resource) by a change of BucketName`]);
  });

  it('a secret replaced: a new name', () => {
    const secret = idOf(next, 'AWS::SecretsManager::Secret', 'SecretsCallbackSecret');
    const updated = changed((t) => {
      t.Resources[secret]!.Properties!.Name = 'agent-pipeline/callback';
    });
    expect(reasonsOf(next, updated)).toEqual([`${secret}: replaced (a new, empty resource) by a change of Name`]);
  });

  it("the KMS key's spec changed: refused by CloudFormation", () => {
    const key = idOf(next, 'AWS::KMS::Key');
    const updated = changed((t) => {
      t.Resources[key]!.Properties!.KeySpec = 'RSA_2048';
    });
    expect(reasonsOf(next, updated)).toEqual([`${key}: changes KeySpec, which cannot change after creation: refused`]);
  });

  it("the user pool's sign-in attributes or schema changed: refused", () => {
    const pool = idOf(next, 'AWS::Cognito::UserPool');
    const signIn = changed((t) => {
      t.Resources[pool]!.Properties!.UsernameAttributes = ['phone_number'];
    });
    expect(reasonsOf(next, signIn)).toEqual([
      `${pool}: changes UsernameAttributes, which cannot change after creation: refused`,
    ]);
    const tenant = { Name: 'tenant', AttributeDataType: 'String', Mutable: true };
    const withTenant = changed((t) => {
      t.Resources[pool]!.Properties!.Schema = [tenant];
    });
    expect(reasonsOf(next, withTenant)).toEqual([]); // an attribute added
    expect(reasonsOf(withTenant, next)).toEqual([
      `${pool}: changes or removes schema attributes (tenant), which a user pool cannot: refused`,
    ]);
  });

  it('a resource holding data under a new logical id: the old one leaves the stack', () => {
    const pool = idOf(next, 'AWS::Cognito::UserPool');
    const updated = changed((t) => {
      t.Resources.RenamedUserPool = t.Resources[pool]!;
      delete t.Resources[pool];
    });
    expect(reasonsOf(next, updated)).toContain(
      `${pool}: removed from the stack (retained, so orphaned: a new one starts empty if it comes back under another id)`,
    );
  });

  it('while a change of code or settings passes', () => {
    const updated = changed((t) => {
      const fn = Object.values(t.Resources).find((resource) => resource.Type === 'AWS::Lambda::Function')!;
      fn.Properties!.MemorySize = 1024;
    });
    expect(reasonsOf(next, updated)).toEqual([]);
  });
});
