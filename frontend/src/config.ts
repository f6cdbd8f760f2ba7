/**
 * The dashboard's runtime configuration, `/config.json`: written to the bucket by the stack in AWS and served by the
 * local runtime. Nothing in it is secret; nothing secret is built into the bundle.
 */
import { z } from 'zod';

const dashboardConfig = z.object({
  /** Base URL of the HTTP API, without a trailing slash. */
  apiUrl: z.url().transform((url) => url.replace(/\/+$/, '')),
  /** The WebSocket API (`wss://...` in AWS). */
  wsUrl: z.url({ protocol: /^wss?$/ }),
  auth: z.object({
    issuer: z.string(),
    clientId: z.string(),
    /** Cognito hosted UI domain; empty locally. */
    domain: z.string(),
    /** True on the local runtime: sign in with `POST /dev/token` instead of the hosted UI. */
    dev: z.boolean().optional(),
  }),
});
export type DashboardConfig = z.infer<typeof dashboardConfig>;

/** Fetches and validates `/config.json`; throws with a readable reason when it is missing or malformed. */
export async function loadConfig(): Promise<DashboardConfig> {
  const response = await fetch('/config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`/config.json answered ${response.status}`);
  const parsed = dashboardConfig.safeParse(await response.json());
  if (!parsed.success) throw new Error(`/config.json is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
