/** Sweeper (scheduled every 15 minutes): repairs agents past their deadline and deletes what finished jobs left; see sweep.ts. */
import * as z from '../domain/zod-mini.ts';
import { apiTargets, githubConfig, hetznerConfig, tailscaleConfig } from '../shared/api-config.ts';
import { loadConfig, stateMachinesConfig, tableConfig } from '../shared/config.ts';
import { taskHandler } from '../shared/task-handler.ts';
import { sweep, type SweepSettings } from './sweep.ts';

const config = loadConfig({
  ...tableConfig,
  ...stateMachinesConfig,
  ...githubConfig,
  ...hetznerConfig,
  ...tailscaleConfig,
});

const settings: SweepSettings = {
  stateMachines: { provision: config.PROVISION_STATE_MACHINE_ARN, lifecycle: config.LIFECYCLE_STATE_MACHINE_ARN },
  // Each token is read only when its API is called (GitHub only for an agent whose run must be asked about).
  ...apiTargets(config),
};

/** The schedule's event carries nothing the sweep needs. */
export const handler = taskHandler(z.unknown(), () => sweep(settings));
