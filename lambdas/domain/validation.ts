/**
 * Why a request body was refused, in words: one mapping from zod's issues to sentences that name the field as the
 * form labels it ("Name: enter a name."), for the API's 400 answers and for the dashboard's forms, which check the
 * same schemas before sending. The schemas carry their own messages where the words matter (`agentName`); anything
 * else gets a sentence per kind of issue, never zod's notation. Pure.
 */
import type * as z from './zod-mini.ts';

/** How each field of a request body is labelled on the page. */
const FIELD_LABELS: Readonly<Record<string, string>> = {
  name: 'Name',
  region: 'Region',
  action: 'Action',
  reason: 'Reason',
  after: 'after',
  jobId: 'jobId',
};

/** One refused field and why. */
export interface Problem {
  /** The top-level field (`name`), or `''` for the body as a whole. */
  readonly field: string;
  readonly message: string;
}

type Issue = z.core.$ZodIssue;

/** zod's default messages start like this; a schema's own message does not. */
const DEFAULT_MESSAGE = /^(Invalid|Too (small|big)|Expected|Unrecognized)/;

function sentenceOf(issue: Issue): string {
  if (!DEFAULT_MESSAGE.test(issue.message)) return issue.message;
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'This is required.' : `This must be a ${issue.expected}.`;
    case 'invalid_value':
      return `Choose one of ${issue.values.map(String).join(', ')}.`;
    case 'too_small':
      return issue.origin === 'string' ? `Use at least ${issue.minimum} characters.` : `Use at least ${issue.minimum}.`;
    case 'too_big':
      return issue.origin === 'string' ? `Use at most ${issue.maximum} characters.` : `Use at most ${issue.maximum}.`;
    case 'unrecognized_keys':
      return `Unknown field${issue.keys.length === 1 ? '' : 's'}: ${issue.keys.join(', ')}.`;
    default:
      return 'This value is not accepted.';
  }
}

/** Each refused field once (its first issue), in the order zod found them. */
export function problemsOf(error: z.core.$ZodError): Problem[] {
  const problems: Problem[] = [];
  for (const issue of error.issues) {
    const field = typeof issue.path[0] === 'string' ? issue.path[0] : '';
    if (problems.some((problem) => problem.field === field)) continue;
    problems.push({ field, message: sentenceOf(issue) });
  }
  return problems;
}

/** The problem as one line: "Name: enter a name." */
export function problemText(problem: Problem): string {
  const label = FIELD_LABELS[problem.field] ?? problem.field;
  const message =
    label === '' ? problem.message : `${problem.message.charAt(0).toLowerCase()}${problem.message.slice(1)}`;
  return label === '' ? message : `${label}: ${message}`;
}

/** The whole refusal in words, as the API's 400 message: each problem's line, joined. */
export function refusalText(error: z.core.$ZodError): string {
  return problemsOf(error).map(problemText).join(' ');
}
