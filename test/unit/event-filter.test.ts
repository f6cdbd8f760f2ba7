import { describe, expect, it } from 'vitest';
import { eventSourceFilter, matchesPattern } from '../../local/event-filter.ts';
import type { CloudFormationTemplate } from '../../local/template.ts';

const historyInsert = { eventName: 'INSERT', dynamodb: { NewImage: { entity: { S: 'history' }, seq: { N: '3' } } } };
const jobModify = { eventName: 'MODIFY', dynamodb: { NewImage: { entity: { S: 'job' } } } };
const connectionInsert = { eventName: 'INSERT', dynamodb: { NewImage: { entity: { S: 'connection' } } } };

describe('event source filter patterns', () => {
  it('matches exact values at any depth and needs every key', () => {
    const pattern = { eventName: ['INSERT'], dynamodb: { NewImage: { entity: { S: ['history'] } } } };
    expect(matchesPattern(historyInsert, pattern)).toBe(true);
    expect(matchesPattern(connectionInsert, pattern)).toBe(false);
    expect(matchesPattern({ eventName: 'INSERT' }, pattern)).toBe(false);
  });

  it('supports prefix, exists and anything-but', () => {
    expect(matchesPattern({ a: 'SEQ#1' }, { a: [{ prefix: 'SEQ#' }] })).toBe(true);
    expect(matchesPattern({ a: 'SUB#1' }, { a: [{ prefix: 'SEQ#' }] })).toBe(false);
    expect(matchesPattern({}, { a: [{ exists: false }] })).toBe(true);
    expect(matchesPattern({ a: 1 }, { a: [{ exists: false }] })).toBe(false);
    expect(matchesPattern({ a: 'x' }, { a: [{ 'anything-but': ['y'] }] })).toBe(true);
    expect(matchesPattern({ a: 'y' }, { a: [{ 'anything-but': ['y'] }] })).toBe(false);
  });

  it("reads the template's FilterCriteria for a function; a record passes when any filter matches", () => {
    const template: CloudFormationTemplate = {
      Resources: {
        Mapping: {
          Type: 'AWS::Lambda::EventSourceMapping',
          Properties: {
            FunctionName: { Ref: 'FanoutFn' },
            FilterCriteria: {
              Filters: [
                {
                  Pattern: JSON.stringify({
                    eventName: ['INSERT'],
                    dynamodb: { NewImage: { entity: { S: ['history'] } } },
                  }),
                },
                {
                  Pattern: JSON.stringify({
                    eventName: ['MODIFY'],
                    dynamodb: { NewImage: { entity: { S: ['job'] } } },
                  }),
                },
              ],
            },
          },
        },
      },
    } as unknown as CloudFormationTemplate;
    const filter = eventSourceFilter(template, 'FanoutFn');
    expect(filter?.(historyInsert)).toBe(true);
    expect(filter?.(jobModify)).toBe(true);
    expect(filter?.(connectionInsert)).toBe(false);
    expect(eventSourceFilter(template, 'OtherFn')).toBeUndefined();
  });
});
