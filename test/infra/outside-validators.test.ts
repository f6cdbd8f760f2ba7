/**
 * Validators made by others, on what the stack deploys (cdk-nag and cfn-guard have their own files):
 * - asl-validator (the Amazon States Language's JSON schema, its path and ARN rules) on every state machine of the
 *   synthesized template, with its definition filled from the template's DefinitionSubstitutions as Step Functions
 *   fills them;
 * - cfn-lint (AWS's CloudFormation linter, which knows today's resource types and their properties) on the template,
 *   where it is installed: it comes from PyPI, which neither `npm ci` nor `.ci/run` can reach, so a machine without
 *   it skips that part. Each warning the template keeps is named below with the reason.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CloudFormationTemplate, stateMachinesOf, synthesizeTemplate } from '../../local/template.ts';

/** asl-validator ships no types. */
type AslValidator = (
  definition: unknown,
  options: { checkArn: boolean; checkPaths: boolean },
) => { isValid: boolean; errorsText: (separator: string) => string };
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

let template: CloudFormationTemplate;
beforeAll(async () => {
  template = await synthesizeTemplate();
});

describe('asl-validator', () => {
  const machines = () =>
    stateMachinesOf(template, (logicalId) => `arn:aws:lambda:eu-central-1:123456789012:function:${logicalId}`);

  it('sees both state machines of the template', () => {
    expect(machines().map(({ definitionFile }) => definitionFile)).toEqual([
      'state-machines/provision.asl.json',
      'state-machines/lifecycle.asl.json',
    ]);
  });

  it.each(['state-machines/provision.asl.json', 'state-machines/lifecycle.asl.json'])(
    '%s, filled as Step Functions fills it: no placeholder left, valid with ARN and path checks',
    (file) => {
      const { definition } = machines().find(({ definitionFile }) => definitionFile === file)!;
      expect(definition.match(/\$\{\w+\}/g) ?? []).toEqual([]);
      const { isValid, errorsText } = aslValidator(JSON.parse(definition), { checkArn: true, checkPaths: true });
      expect(errorsText('\n')).toBe('');
      expect(isValid).toBe(true);
    },
  );

  it.each([
    ['a Next naming no state', { Next: 'NoSuchState' }, /NoSuchState/],
    ['a path that is no path', { InputPath: '$..[' }, /InputPath is invalid/],
  ])('refuses what Step Functions refuses: %s', (_, change, error) => {
    const definition = JSON.parse(machines()[0]!.definition);
    const [name, state] = Object.entries(definition.States as Record<string, any>).find(([, s]) => s.Next)!;
    definition.States[name] = { ...state, ...change };
    const { isValid, errorsText } = aslValidator(definition, { checkArn: true, checkPaths: true });
    expect(isValid).toBe(false);
    expect(errorsText('\n')).toMatch(error);
  });
});

/** cfn-lint's version, or undefined where it is not installed. */
const cfnLintVersion = (() => {
  const { status, stdout } = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
  return status === 0 ? stdout.trim() : undefined;
})();

interface CfnLintFinding {
  Rule: { Id: string };
  Level: string;
  Message: string;
  Location: { Path: (string | number)[] };
}

/**
 * The warnings the template keeps, each with why:
 * - W3005, a function or state machine that `DependsOn` its own role: CDK names the role beside the role's default
 *   policy, so the resource waits for its permissions; the role half is already implied by the `GetAtt` of its role.
 *   Emitted by CDK's constructs, harmless.
 * - W3045 `AccessControl` on the dashboard's log bucket: CloudFront standard logs and S3 server access logs are
 *   written with ACLs (the bucket's LogDeliveryWrite and BucketOwnerPreferred), lib/constructs/frontend-hosting.ts.
 */
function kept({ Rule, Location }: CfnLintFinding): boolean {
  const [, logicalId, attribute, index] = Location.Path;
  const resource = template.Resources[String(logicalId)] as
    | { Type: string; DependsOn?: string[]; Properties?: Record<string, any> }
    | undefined;
  if (Rule.Id === 'W3005') {
    const role = (resource?.Properties?.Role ?? resource?.Properties?.RoleArn)?.['Fn::GetAtt']?.[0];
    return attribute === 'DependsOn' && role !== undefined && resource?.DependsOn?.[Number(index)] === role;
  }
  if (Rule.Id === 'W3045')
    return resource?.Type === 'AWS::S3::Bucket' && String(logicalId).startsWith('DashboardAccessLogs');
  return false;
}

describe.runIf(cfnLintVersion !== undefined)(`cfn-lint (${cfnLintVersion ?? 'not installed: skipped'})`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfn-lint-'));
  const lint = (body: unknown): CfnLintFinding[] => {
    const file = join(dir, 'template.json');
    writeFileSync(file, JSON.stringify(body));
    const { stdout, error } = spawnSync('cfn-lint', ['--format', 'json', '--', file], { encoding: 'utf8' });
    if (error) throw error;
    return JSON.parse(stdout || '[]') as CfnLintFinding[];
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds no error and no warning in the template but those named above', () => {
    const findings = lint(template).filter((finding) => !kept(finding));
    expect(findings.map(({ Rule, Location, Message }) => `${Rule.Id} ${Location.Path.join('/')}: ${Message}`)).toEqual(
      [],
    );
  });

  it('finds what CloudFormation would refuse: an unknown property, a Ref to nothing', () => {
    const broken = structuredClone(template) as any;
    const [id, table] = Object.entries(broken.Resources).find(
      ([, r]: [string, any]) => r.Type === 'AWS::DynamoDB::Table',
    )!;
    (table as any).Properties.TableClas = 'STANDARD';
    (table as any).Properties.DeletionProtectionEnabled = { Ref: 'NoSuchResource' };
    const errors = lint(broken).filter(({ Level, Location }) => Level === 'Error' && Location.Path[1] === id);
    expect(errors.map(({ Rule }) => Rule.Id).sort()).toEqual(['E1020', 'E3002']);
  });
});
