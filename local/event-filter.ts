/**
 * Event source mapping filters (the `FilterCriteria` of the template), evaluated like Lambda does: a record passes when
 * any pattern matches. Supports what event patterns are made of here: exact values, `prefix`, `exists` and
 * `anything-but` lists, nested objects.
 */
import type { CloudFormationTemplate } from './template.ts';

type Pattern = { [key: string]: Pattern | PatternValue[] };
type PatternValue =
  | string
  | number
  | boolean
  | null
  | { prefix?: string; exists?: boolean; 'anything-but'?: unknown[] };

function matchesValue(actual: unknown, allowed: PatternValue[]): boolean {
  return allowed.some((rule) => {
    if (rule === null || typeof rule !== 'object') return actual === rule;
    if (rule.exists !== undefined) return (actual !== undefined) === rule.exists;
    if (rule.prefix !== undefined) return typeof actual === 'string' && actual.startsWith(rule.prefix);
    if (rule['anything-but'] !== undefined) return actual !== undefined && !rule['anything-but'].includes(actual);
    return false;
  });
}

/** True when `event` matches the pattern (every key of the pattern must match). */
export function matchesPattern(event: unknown, pattern: Pattern): boolean {
  return Object.entries(pattern).every(([key, rule]) => {
    const actual = event !== null && typeof event === 'object' ? (event as Record<string, unknown>)[key] : undefined;
    return Array.isArray(rule) ? matchesValue(actual, rule) : matchesPattern(actual, rule);
  });
}

/** A stream event source mapping of the template: the function it feeds and how it retries. */
export interface StreamMapping {
  readonly functionLogicalId: string;
  readonly batchSize?: number;
  readonly maxRetryAttempts?: number;
  readonly bisectBatchOnError?: boolean;
  readonly maxRecordAgeSeconds?: number;
  readonly filter?: (record: unknown) => boolean;
}

/** Every event source mapping of the template, with the settings the local stream poller honours. */
export function streamMappings(template: CloudFormationTemplate): StreamMapping[] {
  return Object.values(template.Resources).flatMap((resource) => {
    if (resource.Type !== 'AWS::Lambda::EventSourceMapping') return [];
    const properties = resource.Properties ?? {};
    const functionLogicalId = /"Ref":"([^"]+)"/.exec(JSON.stringify(properties.FunctionName ?? ''))?.[1];
    if (functionLogicalId === undefined) throw new Error('An event source mapping names no function of the template');
    const number = (name: string) => (typeof properties[name] === 'number' ? (properties[name] as number) : undefined);
    const filter = eventSourceFilter(template, functionLogicalId);
    return [
      {
        functionLogicalId,
        ...(number('BatchSize') === undefined ? {} : { batchSize: number('BatchSize') }),
        ...(number('MaximumRetryAttempts') === undefined ? {} : { maxRetryAttempts: number('MaximumRetryAttempts') }),
        ...(typeof properties.BisectBatchOnFunctionError === 'boolean'
          ? { bisectBatchOnError: properties.BisectBatchOnFunctionError }
          : {}),
        ...(number('MaximumRecordAgeInSeconds') === undefined
          ? {}
          : { maxRecordAgeSeconds: number('MaximumRecordAgeInSeconds') }),
        ...(filter === undefined ? {} : { filter }),
      },
    ];
  });
}

/** The filter of the event source mapping feeding `functionLogicalId`, or undefined when it has none. */
export function eventSourceFilter(
  template: CloudFormationTemplate,
  functionLogicalId: string,
): ((record: unknown) => boolean) | undefined {
  const mapping = Object.values(template.Resources).find(
    (resource) =>
      resource.Type === 'AWS::Lambda::EventSourceMapping' &&
      JSON.stringify(resource.Properties?.FunctionName ?? '').includes(`"${functionLogicalId}"`),
  );
  const filters = (mapping?.Properties?.FilterCriteria as { Filters?: { Pattern: string }[] } | undefined)?.Filters;
  if (filters === undefined || filters.length === 0) return undefined;
  const patterns = filters.map((filter) => JSON.parse(filter.Pattern) as Pattern);
  return (record) => patterns.some((pattern) => matchesPattern(record, pattern));
}
