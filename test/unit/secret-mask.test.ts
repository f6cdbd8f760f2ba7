/**
 * Secrets are masked twice, by the workflow before sending (.github/scripts/log-lines.mjs) and by the callback function
 * before storing (lambdas/domain/secret-mask.ts): two implementations, one in plain JavaScript for GitHub's runner, held
 * to the same vector table.
 */
import { describe, expect, it } from 'vitest';
import * as workflow from '../../.github/scripts/log-lines.mjs';
import * as domain from '../../lambdas/domain/secret-mask.ts';
import vectors from './secret-mask-vectors.json' with { type: 'json' };

const implementations = [
  ['the workflow (log-lines.mjs)', workflow],
  ['the callback function (secret-mask.ts)', domain],
] as const;

describe.each(implementations)('masking in %s', (_name, { maskLines, maskLine }) => {
  it.each(vectors)('$name', ({ input, expected }) => {
    expect(maskLines(input).lines).toEqual(expected);
  });

  it('carries a private key block from one run of lines to the next', () => {
    const first = maskLines(['-----BEGIN PRIVATE KEY-----', 'short']);
    expect(first).toEqual({ lines: ['[masked]', '[masked]'], state: { inPrivateKey: true } });
    expect(maskLines(['abc', '-----END PRIVATE KEY-----', 'after'], first.state)).toEqual({
      lines: ['[masked]', '[masked]', 'after'],
      state: { inPrivateKey: false },
    });
  });

  it('masks the secrets it is given by value, but not short ones', () => {
    expect(maskLine('using s3cr3t-value-here and abc', ['s3cr3t-value-here', 'abc'])).toBe('using [masked] and abc');
  });
});
