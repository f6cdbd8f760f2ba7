/**
 * Refusals in words (lambdas/domain/validation.ts) for the schemas the form and the API share, and the agent name
 * rule: printable text only, at most AGENT_NAME_MAX_LENGTH characters after trimming.
 */
import { describe, expect, it } from 'vitest';
import { AGENT_NAME_MAX_LENGTH, agentActionRequest, createAgentRequest } from '../../lambdas/domain/schemas.ts';
import { refusalText } from '../../lambdas/domain/validation.ts';

const refusal = (body: unknown, schema: typeof createAgentRequest | typeof agentActionRequest = createAgentRequest) => {
  const parsed = schema.safeParse(body);
  if (parsed.success) throw new Error(`accepted ${JSON.stringify(body)}`);
  return refusalText(parsed.error);
};

describe('agent names', () => {
  it.each([
    ['spaces only', '   ', 'Name: enter a name.'],
    ['81 characters', 'n'.repeat(81), `Name: use at most ${AGENT_NAME_MAX_LENGTH} characters.`],
    ['500 characters', 'n'.repeat(500), `Name: use at most ${AGENT_NAME_MAX_LENGTH} characters.`],
  ])('refuses %s in words', (_, name, text) => {
    expect(refusal({ name, region: 'fsn1' })).toBe(text);
  });

  it.each([
    ['a newline', 'line1\nline2'],
    ['NUL', 'a\u0000b'],
    ['a tab', 'a\tb'],
    ['a C1 control', 'a\u0085b'],
    ['a right-to-left override', 'line2\u202Eevil'],
    ['a left-to-right isolate', 'a\u2066b'],
    ['a right-to-left mark', 'a\u200Fb'],
    ['a line separator', 'a\u2028b'],
  ])('refuses %s', (_, name) => {
    expect(refusal({ name, region: 'fsn1' })).toBe(
      'Name: use printable characters only: no line breaks, control or text-direction characters.',
    );
  });

  it('accepts printable names in any script, emoji with joiners included, trimmed, up to the limit', () => {
    for (const name of [
      'Research helper',
      'Ассистент',
      'مساعد',
      '助手 2',
      '👩‍💻 dev',
      ` ${'n'.repeat(AGENT_NAME_MAX_LENGTH)} `,
    ]) {
      expect(createAgentRequest.safeParse({ name, region: 'fsn1' }).success, name).toBe(true);
    }
  });

  it("words the other fields' refusals too, never in zod's notation", () => {
    expect(refusal({ region: 'fsn1' })).toBe('Name: this is required.');
    expect(refusal({ name: 'x', region: 'mars' })).toMatch(/^Region: choose one of fsn1, /);
    expect(refusal({ action: 'explode' }, agentActionRequest)).toMatch(/^Action: choose one of retry, /);
    expect(refusal({ action: 'stop', reason: 'x' }, agentActionRequest)).toBe('Reason: use at least 3 characters.');
    for (const text of [refusal({ name: '', region: 'x' }), refusal({ name: 5, region: 'fsn1' })]) {
      expect(text).not.toMatch(/✖|→|Too small|expected string/);
    }
  });
});
