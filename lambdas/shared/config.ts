import { PROVISION_TIMEOUT_DEFAULTS } from '../domain/deadlines.ts';
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

/** A setting that must be present and not empty. */
export const nonEmpty = () => z.string().check(z.minLength(1));

/** The ARN of a resource the stack passes in. */
export const arn = () => z.string().check(z.startsWith('arn:'));

// Fragments: the settings a concern needs, spread into a handler's `loadConfig({ ...tableConfig, ... })`, so each is
// named and validated one way everywhere.

/** The pipeline's one table (DynamoDB names are 3 characters at least). */
export const tableConfig = { TABLE_NAME: z.string().check(z.minLength(3)) };

/** The state machines an intent's execution request names. */
export const stateMachinesConfig = { PROVISION_STATE_MACHINE_ARN: arn(), LIFECYCLE_STATE_MACHINE_ARN: arn() };

/** The provisioning state machine's timeouts (seconds), from which execution inputs and stuck-job bounds are built. */
export const timeoutsConfig = {
  START_TIMEOUT_SECONDS: seconds(PROVISION_TIMEOUT_DEFAULTS.startSeconds),
  HEARTBEAT_TIMEOUT_SECONDS: seconds(PROVISION_TIMEOUT_DEFAULTS.heartbeatSeconds),
  COMPLETION_TIMEOUT_SECONDS: seconds(PROVISION_TIMEOUT_DEFAULTS.completionSeconds),
};

export type Loaded<Shape extends z.core.$ZodLooseShape> = z.infer<z.ZodMiniObject<Shape>>;

/** The timeouts as the execution input carries them (lambdas/domain/schemas.ts, `provisionTimeouts`). */
export function timeoutsOf(config: Loaded<typeof timeoutsConfig>) {
  return {
    startSeconds: config.START_TIMEOUT_SECONDS,
    heartbeatSeconds: config.HEARTBEAT_TIMEOUT_SECONDS,
    completionSeconds: config.COMPLETION_TIMEOUT_SECONDS,
  };
}
