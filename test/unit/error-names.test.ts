/**
 * The error-name catalogue (lambdas/domain/error-names.ts) is the only place an error's name is written: every name the
 * state machines match is in it, every named error class takes its name from it, and every name in it is used.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_NAMES } from '../../lambdas/domain/error-names.ts';
import { LIFECYCLE_ASL_PATH, PROVISION_ASL_PATH } from '../../lib/metadata.ts';
import { fromRepoRoot } from '../../lib/paths.ts';

const CATALOGUE: readonly string[] = Object.values(ERROR_NAMES);
const LAMBDAS = fromRepoRoot('lambdas');

function sourcesUnder(dir: string): { file: string; text: string }[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .map((file) => ({ file, text: readFileSync(file, 'utf8') }));
}

/** Every `ErrorEquals` list of a state machine definition, wherever it is nested. */
function errorEqualsLists(node: unknown): string[][] {
  if (Array.isArray(node)) return node.flatMap(errorEqualsLists);
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node).flatMap(([key, value]) =>
    key === 'ErrorEquals' ? [value as string[]] : errorEqualsLists(value),
  );
}

const definitionOf = (path: string): unknown => JSON.parse(readFileSync(fromRepoRoot(path), 'utf8'));

describe('error names', () => {
  const sources = sourcesUnder(LAMBDAS);

  it.each([PROVISION_ASL_PATH, LIFECYCLE_ASL_PATH])('every error %s matches by name is in the catalogue', (path) => {
    const matched = errorEqualsLists(definitionOf(path)).flat();
    // Not ours: Step Functions' own names, and the AWS SDK's transient errors, which the retrier that matches
    // `TimeoutError` lists (test/unit/asl.test.ts pins that list against the SDK's classes).
    const transient = errorEqualsLists(definitionOf(PROVISION_ASL_PATH))
      .filter((names) => names.includes('TimeoutError'))
      .flat();
    const ours = matched.filter(
      (name) => !name.startsWith('States.') && !name.startsWith('Lambda.') && !transient.includes(name),
    );
    expect(ours.filter((name) => !CATALOGUE.includes(name))).toEqual([]);
  });

  it('finds the names the provisioning machine matches', () => {
    expect(errorEqualsLists(definitionOf(PROVISION_ASL_PATH)).flat()).toEqual(
      expect.arrayContaining(['DispatchRefused', 'WorkflowFailed', 'JobNotActivated']),
    );
  });

  it('every named error class takes its name from the catalogue', () => {
    const names = sources.flatMap(({ file, text }) =>
      [...text.matchAll(/override readonly name = ([^;]+);/g)].map((match) => ({ file, name: match[1] })),
    );
    expect(names.length).toBeGreaterThanOrEqual(8);
    expect(names.filter(({ name }) => !name!.startsWith('ERROR_NAMES.'))).toEqual([]);
  });

  it('every name in the catalogue is thrown or sent by some function', () => {
    const used = new Set(sources.flatMap(({ text }) => [...text.matchAll(/ERROR_NAMES\.(\w+)/g)].map((m) => m[1])));
    expect(Object.keys(ERROR_NAMES).filter((key) => !used.has(key))).toEqual([]);
  });
});
