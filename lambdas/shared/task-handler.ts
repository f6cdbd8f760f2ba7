/**
 * The shape of every function a state machine or a schedule invokes: the shared middleware (./middleware.ts), the
 * input parsed with its zod schema before anything runs, and the ids it names (job, agent, action) on every log line.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import * as z from '../domain/zod-mini.ts';
import { logger } from './logger.ts';
import { handlerMiddleware } from './middleware.ts';
import { ERROR_NAMES } from '../domain/error-names.ts';

/**
 * The input does not match the task's schema: a bug in the state machine or whoever invoked it, never transient. The
 * states catch it (`States.ALL`) like any other failure; the message says which fields are wrong (no values).
 */
export class InvalidTaskInputError extends Error {
  override readonly name = ERROR_NAMES.InvalidTaskInput;
}

/**
 * Input fields that say what an invocation works on; each present as a string is added to its log lines. Read from
 * the input as given (once it parsed): the state machine passes `agentId` with `jobId` to every task for the logs,
 * whether or not the task's schema needs it.
 */
const CORRELATION_KEYS = ['jobId', 'agentId', 'action'] as const;

function correlationKeysOf(input: unknown): Record<string, string> {
  if (typeof input !== 'object' || input === null) return {};
  const fields = input as Record<string, unknown>;
  return Object.fromEntries(
    CORRELATION_KEYS.flatMap((key) => (typeof fields[key] === 'string' ? [[key, fields[key]]] : [])),
  );
}

/**
 * The Lambda handler of a state-machine task (or a scheduled function): `handle` runs with the parsed input.
 * @throws InvalidTaskInputError when the input does not match `schema`; whatever `handle` throws, unchanged (the
 *   state machine's Retry and Catch match the error's name)
 */
export function taskHandler<Schema extends z.ZodMiniType, Result>(
  schema: Schema,
  handle: (input: z.output<Schema>, context: Context) => Promise<Result>,
) {
  return middy<unknown, Result>()
    .use(handlerMiddleware())
    .handler(async (event, context) => {
      const parsed = schema.safeParse(event);
      if (!parsed.success) throw new InvalidTaskInputError(`Invalid task input: ${z.prettifyError(parsed.error)}`);
      logger.appendKeys(correlationKeysOf(event));
      return handle(parsed.data, context);
    });
}
