import { describe, expect, it } from 'vitest';
import { dynamoDbIamRequests } from '../../local/dynamodb-iam-proxy.ts';
import {
  AccessDeniedError,
  LocalIam,
  matchesEverySegmentOrNone,
  resolveIntrinsics,
  type ReferenceResolver,
} from '../../local/iam.ts';
import type { CloudFormationTemplate } from '../../local/template.ts';

const TABLE_ARN = 'arn:aws:dynamodb:us-east-1:000000000000:table/local-Data';
const resolveReference: ReferenceResolver = (logicalId, attribute) =>
  logicalId === 'Data' && attribute === 'Arn'
    ? TABLE_ARN
    : logicalId === 'Machine' && attribute === undefined
      ? 'arn:aws:states:us-east-1:000000000000:stateMachine:Machine'
      : undefined;

describe('resolveIntrinsics', () => {
  it('resolves Ref, Fn::GetAtt, Fn::Join, Fn::Sub and pseudo parameters to local values', () => {
    expect(
      resolveIntrinsics(
        [
          { 'Fn::GetAtt': ['Data', 'Arn'] },
          { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Data', 'Arn'] }, '/index/*']] },
          {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':states:',
                { Ref: 'AWS::Region' },
                ':',
                { Ref: 'AWS::AccountId' },
                ':execution:x:*',
              ],
            ],
          },
          { 'Fn::Sub': 'cdk-assets-${AWS::AccountId}-${AWS::Region}' },
          { 'Fn::Sub': ['${Machine}/${Suffix}', { Suffix: 'live' }] },
          { Ref: 'Machine' },
        ],
        resolveReference,
      ),
    ).toEqual([
      TABLE_ARN,
      `${TABLE_ARN}/index/*`,
      'arn:aws:states:us-east-1:000000000000:execution:x:*',
      'cdk-assets-000000000000-us-east-1',
      'arn:aws:states:us-east-1:000000000000:stateMachine:Machine/live',
      'arn:aws:states:us-east-1:000000000000:stateMachine:Machine',
    ]);
  });

  it('turns a reference the runtime has no value for into an ARN that matches nothing it calls', () => {
    expect(resolveIntrinsics({ 'Fn::GetAtt': ['Logs', 'Arn'] }, resolveReference)).toBe(
      'arn:aws:local:::unresolved/Logs.Arn',
    );
  });
});

describe('dynamoDbIamRequests', () => {
  it('authorizes a query of an index on the index ARN, and other item calls on the table', () => {
    expect(dynamoDbIamRequests('Query', { TableName: 'local-Data', IndexName: 'GSI1' })).toEqual([
      { action: 'dynamodb:Query', resource: `${TABLE_ARN}/index/GSI1` },
    ]);
    expect(dynamoDbIamRequests('UpdateItem', { TableName: 'local-Data' })).toEqual([
      { action: 'dynamodb:UpdateItem', resource: TABLE_ARN },
    ]);
  });

  it('authorizes each entry of a transaction under its own action, and a batch under the batch action on each table', () => {
    const entry = { TableName: 'local-Data' };
    expect(
      dynamoDbIamRequests('TransactWriteItems', {
        TransactItems: [{ Put: entry }, { Update: entry }, { Delete: entry }, { ConditionCheck: entry }],
      }).map(({ action }) => action),
    ).toEqual(['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem']);
    expect(dynamoDbIamRequests('TransactGetItems', { TransactItems: [{ Get: entry }] })).toEqual([
      { action: 'dynamodb:GetItem', resource: TABLE_ARN },
    ]);
    expect(dynamoDbIamRequests('BatchWriteItem', { RequestItems: { 'local-Data': [] } })).toEqual([
      { action: 'dynamodb:BatchWriteItem', resource: TABLE_ARN },
    ]);
  });
});

describe('LocalIam', () => {
  const template: CloudFormationTemplate = {
    Resources: {
      Fn: { Type: 'AWS::Lambda::Function', Properties: { Role: { 'Fn::GetAtt': ['FnRole', 'Arn'] } } },
      FnRole: { Type: 'AWS::IAM::Role', Properties: {} },
      FnPolicy: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          Roles: [{ Ref: 'FnRole' }],
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Action: ['dynamodb:GetItem', 'dynamodb:Query'],
                Resource: [
                  { 'Fn::GetAtt': ['Data', 'Arn'] },
                  { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Data', 'Arn'] }, '/index/*']] },
                ],
              },
              { Effect: 'Allow', Action: 'states:SendTaskSuccess', Resource: { Ref: 'Machine' } },
              {
                Effect: 'Deny',
                Action: 'dynamodb:Query',
                Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Data', 'Arn'] }, '/index/Secret']] },
              },
            ],
          },
        },
      },
    },
  };
  const iam = new LocalIam(template, resolveReference);
  const principal = iam.functionPrincipal('Fn');

  it('names the role session of the function, as Lambda does', () => {
    expect(principal.arn).toBe('arn:aws:sts::000000000000:assumed-role/FnRole/Fn');
  });

  it("allows what the role grants, and denies the rest with AWS's message", async () => {
    await expect(
      iam.check(principal, [{ action: 'dynamodb:Query', resource: `${TABLE_ARN}/index/GSI1` }]),
    ).resolves.toBeUndefined();
    const denial = await iam.check(principal, [
      { action: 'dynamodb:GetItem', resource: TABLE_ARN },
      { action: 'dynamodb:PutItem', resource: TABLE_ARN },
    ]);
    expect(denial).toBeInstanceOf(AccessDeniedError);
    expect(denial?.message).toBe(
      `User: arn:aws:sts::000000000000:assumed-role/FnRole/Fn is not authorized to perform: dynamodb:PutItem on resource: ${TABLE_ARN} because no identity-based policy allows the dynamodb:PutItem action`,
    );
  });

  it('honours an explicit deny over an allow, and says so', async () => {
    const denial = await iam.check(principal, [{ action: 'dynamodb:Query', resource: `${TABLE_ARN}/index/Secret` }]);
    expect(denial?.message).toMatch(
      /on resource: \S+\/index\/Secret with an explicit deny in an identity-based policy$/,
    );
  });

  it('authorizes SendTask* on the state machine of the token, as AWS does', async () => {
    const machine = 'arn:aws:states:us-east-1:000000000000:stateMachine:Machine';
    await expect(
      iam.check(principal, [{ action: 'states:SendTaskSuccess', resource: machine }]),
    ).resolves.toBeUndefined();
    expect(await iam.check(principal, [{ action: 'states:SendTaskFailure', resource: machine }])).toBeInstanceOf(
      AccessDeniedError,
    );
  });
});

describe('LocalIam decision cache', () => {
  const CONNECTIONS = 'arn:aws:execute-api:us-east-1:000000000000:api1/prod/POST/@connections/';
  const MANAGE = 'execute-api:ManageConnections';
  const roleWith = (statements: unknown[]) => ({
    Type: 'AWS::IAM::Role',
    Properties: {
      Policies: [{ PolicyName: 'Inline', PolicyDocument: { Version: '2012-10-17', Statement: statements } }],
    },
  });
  const fn = (role: string) => ({
    Type: 'AWS::Lambda::Function',
    Properties: { Role: { 'Fn::GetAtt': [role, 'Arn'] } },
  });
  const template: CloudFormationTemplate = {
    Resources: {
      Fanout: fn('FanoutRole'),
      FanoutRole: roleWith([{ Effect: 'Allow', Action: MANAGE, Resource: `${CONNECTIONS}*` }]),
      Other: fn('OtherRole'),
      OtherRole: roleWith([{ Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: TABLE_ARN }]),
      Narrow: fn('NarrowRole'),
      NarrowRole: roleWith([
        { Effect: 'Allow', Action: MANAGE, Resource: `${CONNECTIONS}abc*` },
        { Effect: 'Deny', Action: MANAGE, Resource: `${CONNECTIONS}abcBanned` },
      ]),
    },
  };
  const decisions = async (iam: LocalIam, functionId: string, action: string, connectionIds: string[]) => {
    const principal = iam.functionPrincipal(functionId);
    const results: string[] = [];
    for (const id of connectionIds) {
      const denial = await iam.check(principal, [{ action, resource: `${CONNECTIONS}${id}` }]);
      results.push(denial === undefined ? 'allowed' : denial.message);
    }
    return results;
  };

  it("serves one connection's decision for another only to the same role and action, naming the resource asked", async () => {
    const iam = new LocalIam(template, resolveReference);
    expect(await decisions(iam, 'Fanout', MANAGE, ['conn1', 'conn2', 'conn3'])).toEqual([
      'allowed',
      'allowed',
      'allowed',
    ]);
    const [otherDenial] = await decisions(iam, 'Other', MANAGE, ['conn2']);
    expect(otherDenial).toBe(
      `User: arn:aws:sts::000000000000:assumed-role/OtherRole/Other is not authorized to perform: ${MANAGE} on resource: ${CONNECTIONS}conn2 because no identity-based policy allows the ${MANAGE} action`,
    );
    const [invokeDenial] = await decisions(iam, 'Fanout', 'execute-api:Invoke', ['conn1']);
    expect(invokeDenial).toMatch(/not authorized to perform: execute-api:Invoke on resource: \S+@connections\/conn1 /);
  });

  it('decides each connection on its own when the role grants or denies some connection ids and not others', async () => {
    const ids = ['abc1', 'xyz', 'abcBanned', 'abc2'];
    for (const order of [ids, [...ids].reverse()]) {
      const iam = new LocalIam(template, resolveReference);
      const byId = Object.fromEntries(
        (await decisions(iam, 'Narrow', MANAGE, order)).map((result, index) => [order[index], result]),
      );
      expect(byId.abc1).toBe('allowed');
      expect(byId.abc2).toBe('allowed');
      expect(byId.xyz).toMatch(/@connections\/xyz because no identity-based policy allows/);
      expect(byId.abcBanned).toMatch(/@connections\/abcBanned with an explicit deny/);
    }
  });

  it('shares a decision across last path segments only when no pattern can tell them apart', () => {
    expect(matchesEverySegmentOrNone(`${CONNECTIONS}*`, CONNECTIONS)).toBe(true);
    expect(matchesEverySegmentOrNone('*', CONNECTIONS)).toBe(true);
    expect(matchesEverySegmentOrNone('arn:aws:execute-api:*:*:api1/*/POST/@connections/*', CONNECTIONS)).toBe(true);
    expect(matchesEverySegmentOrNone(TABLE_ARN, CONNECTIONS)).toBe(true);
    expect(matchesEverySegmentOrNone(`${CONNECTIONS}abc*`, CONNECTIONS)).toBe(false);
    expect(matchesEverySegmentOrNone(`${CONNECTIONS}?*`, CONNECTIONS)).toBe(false);
    expect(matchesEverySegmentOrNone(`${CONNECTIONS}conn1`, CONNECTIONS)).toBe(false);
    expect(matchesEverySegmentOrNone('arn:aws:execute-api:*/@connections/conn1', CONNECTIONS)).toBe(false);
  });
});
