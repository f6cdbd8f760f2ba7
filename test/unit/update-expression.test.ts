import { describe, expect, it } from 'vitest';
import {
  and,
  conditionOf,
  equals,
  exists,
  isIn,
  lessThan,
  notExists,
  or,
  updateOf,
} from '../../lambdas/shared/update-expression.ts';

describe('updateOf', () => {
  it('sets defined values and removes undefined ones, every attribute and value behind a placeholder', () => {
    expect(
      updateOf({ set: { status: 'failed', error: 'boom', workflowRunId: undefined, failedStep: undefined } }),
    ).toEqual({
      UpdateExpression: 'SET #status = :v0, #error = :v1 REMOVE #workflowRunId, #failedStep',
      ExpressionAttributeNames: {
        '#status': 'status',
        '#error': 'error',
        '#workflowRunId': 'workflowRunId',
        '#failedStep': 'failedStep',
      },
      ExpressionAttributeValues: { ':v0': 'failed', ':v1': 'boom' },
    });
  });

  it('keeps the first value with setIfAbsent, adds with ADD, and numbers the condition after the clauses', () => {
    expect(
      updateOf({
        setIfAbsent: { outcome: { status: 'running' } },
        add: { count: 1 },
        condition: and(exists('PK'), isIn('status', ['queued', 'provisioning'])),
      }),
    ).toEqual({
      UpdateExpression: 'SET #outcome = if_not_exists(#outcome, :v0) ADD #count :v1',
      ConditionExpression: 'attribute_exists(#PK) AND #status IN (:v2, :v3)',
      ExpressionAttributeNames: { '#outcome': 'outcome', '#count': 'count', '#PK': 'PK', '#status': 'status' },
      ExpressionAttributeValues: { ':v0': { status: 'running' }, ':v1': 1, ':v2': 'queued', ':v3': 'provisioning' },
    });
  });

  it('gives no value map when nothing has a value (DynamoDB refuses an empty one)', () => {
    expect(updateOf({ set: { execution: undefined } })).toEqual({
      UpdateExpression: 'REMOVE #execution',
      ExpressionAttributeNames: { '#execution': 'execution' },
    });
  });

  it('refuses an update that changes nothing and a name that is not an attribute name', () => {
    expect(() => updateOf({})).toThrow('An update that changes nothing');
    expect(() => updateOf({ set: { 'a = :x, b': 1 } })).toThrow('Not an attribute name');
  });
});

describe('conditions', () => {
  it('compare, and bind AND tighter than OR as DynamoDB does, so an AND inside an OR needs no parentheses', () => {
    expect(conditionOf(or(notExists('PK'), and(equals('status', 'in-progress'), lessThan('createdAt', 'T1'))))).toEqual(
      {
        expression: '(attribute_not_exists(#PK) OR #status = :v0 AND #createdAt < :v1)',
        ExpressionAttributeNames: { '#PK': 'PK', '#status': 'status', '#createdAt': 'createdAt' },
        ExpressionAttributeValues: { ':v0': 'in-progress', ':v1': 'T1' },
      },
    );
  });

  it('parenthesise an OR inside an AND', () => {
    expect(
      conditionOf(and(equals('seq', 3), or(notExists('subscriptionId'), equals('subscriptionId', 'sub_1')))),
    ).toEqual({
      expression: '#seq = :v0 AND (attribute_not_exists(#subscriptionId) OR #subscriptionId = :v1)',
      ExpressionAttributeNames: { '#seq': 'seq', '#subscriptionId': 'subscriptionId' },
      ExpressionAttributeValues: { ':v0': 3, ':v1': 'sub_1' },
    });
  });
});
