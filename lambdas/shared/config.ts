import * as z from '../domain/zod-mini.ts';

/**
 * Reads and validates a handler's environment once, at module load. A missing or invalid variable stops the cold start
 * with one message naming every problem, instead of failing later on a request.
 */
export function loadConfig<Shape extends z.core.$ZodLooseShape>(
  shape: Shape,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<z.ZodMiniObject<Shape>> {
  const result = z.object(shape).safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new Error(`Invalid configuration: ${problems}`);
  }
  return result.data;
}

/** A positive whole number of seconds read from the environment, with a default. */
export const seconds = (fallback: number) => z._default(z.coerce.number().check(z.int(), z.positive()), fallback);
